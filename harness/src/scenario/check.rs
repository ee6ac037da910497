//! Loading a scenario file: parse it ([`super::format`]), then check what spans steps:
//! the cards' profiles exist and are valid, `on:` names a card, every `${variable}` is
//! defined before the step that uses it, `unchanged_since` names an earlier step. Every
//! error names the file, line and column and says what to write instead.

use std::path::{Path, PathBuf};

use mynasim_simulator::profile::Profile;
use serde_saphyr::Spanned;

use super::format::{BenchCards, CardAction, CardSpec, Pos, Program, ScenarioDoc, Step, StepKind};
use super::template::Template;

/// A scenario that cannot run: where and why.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ScenarioError {
    /// The file.
    pub file: PathBuf,
    /// Where in it (when known).
    pub pos: Option<Pos>,
    /// The full message: `file:line:column: what is wrong`, the line, a caret.
    pub message: String,
}

impl ScenarioError {
    fn at(file: &Path, text: &str, pos: Pos, what: impl std::fmt::Display) -> ScenarioError {
        ScenarioError { file: file.to_path_buf(), pos: Some(pos), message: render(file, text, pos, &what.to_string()) }
    }

    fn plain(file: &Path, what: impl std::fmt::Display) -> ScenarioError {
        ScenarioError { file: file.to_path_buf(), pos: None, message: format!("error: {}: {what}", file.display()) }
    }
}

/// `error: message`, then `--> file:line:column`, the line and a caret under the column
/// (the layout serde-saphyr gives parse errors, so all errors read alike).
pub fn render(file: &Path, text: &str, pos: Pos, message: &str) -> String {
    render_labeled("error", file, text, pos, message)
}

/// [`render`] with another label than `error` (`failed` for a failing step).
pub fn render_labeled(label: &str, file: &Path, text: &str, pos: Pos, message: &str) -> String {
    let mut out = format!("{label}: {message}\n --> {}:{}:{}", file.display(), pos.line, pos.column);
    if let Some(line) = text.lines().nth(pos.line.saturating_sub(1) as usize) {
        let gutter = pos.line.to_string();
        let pad = " ".repeat(gutter.len());
        out.push_str(&format!("\n{pad} |\n{gutter} | {line}\n{pad} | {}^", " ".repeat(pos.column.saturating_sub(1) as usize)));
    }
    out
}

/// A card of a scenario, its profile resolved.
#[derive(Clone, Debug)]
pub struct ScenarioCard {
    /// Its name (`card` for one-card scenarios).
    pub name: String,
    /// The profile, with `extends` merged and paths absolute.
    pub profile: Profile,
    /// The profile's name for logs.
    pub label: String,
}

/// A checked scenario, ready to run.
#[derive(Debug)]
pub struct LoadedScenario {
    /// The file.
    pub file: PathBuf,
    /// Its text (failure reports quote lines of it).
    pub text: String,
    /// The scenario's name.
    pub name: String,
    /// The document.
    pub doc: ScenarioDoc,
    /// The cards, in slot order.
    pub cards: Vec<ScenarioCard>,
    /// Whether it needs a real pcscd (run steps, pcscd restarts, pcscd faults).
    pub needs_pcscd: bool,
    /// Whether it reads `${card.dir}` (the exported certificates).
    pub uses_card_dir: bool,
    /// Whether it restarts a card program (`card: restart`), which needs a state file.
    pub restarts_cards: bool,
}

/// Scenario files under `paths` (folders are searched recursively for `*.yaml` and
/// `*.yml`, skipping `profiles/` folders), sorted, each once.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>, ScenarioError> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "profiles" && !n.to_string_lossy().starts_with('.')) {
                    walk(&path, out)?;
                }
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                out.push(path);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for path in paths {
        if path.is_dir() {
            walk(path, &mut out).map_err(|e| ScenarioError::plain(path, format!("cannot read the folder: {e}")))?;
        } else if path.is_file() {
            out.push(path.clone());
        } else {
            return Err(ScenarioError::plain(path, "no such file or folder"));
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Reads and checks one scenario file.
pub fn load(file: &Path) -> Result<LoadedScenario, ScenarioError> {
    let text = std::fs::read_to_string(file).map_err(|e| ScenarioError::plain(file, format!("cannot read: {e}")))?;
    // YAML breaks lines at CR, LF and CR LF; `str::lines` (which quotes the line of an
    // error) only at the latter two. One break character for one: positions stay right.
    let text = if text.contains('\r') { text.replace("\r\n", "\n").replace('\r', "\n") } else { text };
    let source = file.display().to_string();
    let doc: ScenarioDoc = serde_saphyr::from_str(&text).map_err(|e| ScenarioError {
        file: file.to_path_buf(),
        pos: e.location().map(|l| Pos::of(&l)),
        message: e.render_with_options(serde_saphyr::render_options! { source_name: Some(&source) }),
    })?;
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let at = |pos: Pos, what: String| ScenarioError::at(file, &text, pos, what);

    if doc.card.is_some() && doc.cards.is_some() {
        let pos = doc.card.as_ref().map_or(Pos::default(), |c| Pos::of(&c.referenced));
        return Err(at(pos, "give `card` (one card) or `cards` (named cards), not both".into()));
    }
    let mut declared: Vec<(String, Option<&Spanned<CardSpec>>)> = match (&doc.card, &doc.cards) {
        (Some(card), None) => vec![("card".to_owned(), Some(card))],
        (None, Some(cards)) => cards.iter().map(|(n, c)| (n.clone(), Some(c))).collect(),
        _ => vec![("card".to_owned(), None)],
    };
    if declared.is_empty() || declared.len() > crate::sandbox::MAX_CARDS {
        let pos = declared
            .iter()
            .find_map(|(_, c)| c.map(|c| Pos::of(&c.referenced)))
            .map_or(Pos { line: 1, column: 1 }, |p| Pos { line: p.line.saturating_sub(1).max(1), column: 1 });
        let pos = text.lines().position(|l| l.starts_with("cards:")).map_or(pos, |i| Pos { line: i as u32 + 1, column: 1 });
        return Err(at(
            pos,
            format!(
                "a scenario has 1 to {} cards (vpcd serves two slots per pcscd), this one has {}; split it into scenarios",
                crate::sandbox::MAX_CARDS,
                declared.len()
            ),
        ));
    }
    let mut cards = Vec::new();
    for (name, spec) in declared.drain(..) {
        let (profile, label) = match spec {
            None => (Profile::default(), "default".to_owned()),
            Some(spec) => resolve_card(&spec.value, &dir).map_err(|e| at(Pos::of(&spec.referenced), e))?,
        };
        // Resolve now, so a profile's own errors show before anything runs.
        profile
            .resolve(crate::load::today_in_japan(), &label)
            .map_err(|e| at(spec.map_or(Pos { line: 1, column: 1 }, |s| Pos::of(&s.referenced)), format!("card `{name}`: {e}")))?;
        cards.push(ScenarioCard { name, profile, label });
    }

    let card_names: Vec<String> = cards.iter().map(|c| c.name.clone()).collect();
    let mut scope = Scope::new(&card_names);
    for (name, value) in &doc.vars {
        check_template(&value.value.0, &scope).map_err(|e| at(Pos::of(&value.referenced), format!("vars.{name}: {e}")))?;
        scope.define(name);
    }
    let mut needs_pcscd = false;
    let mut named = vec!["start".to_owned()];
    check_steps(&doc.steps, &mut scope, &card_names, &mut named, &mut needs_pcscd, &dir, &|pos, e| at(pos, e))?;
    let name = doc.name.clone().unwrap_or_else(|| file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default());
    let uses_card_dir = text.contains(".dir}");
    let restarts_cards = scope.restarts;
    Ok(LoadedScenario { file: file.to_path_buf(), text, name, doc, cards, needs_pcscd, uses_card_dir, restarts_cards })
}

/// A card spec's profile, `extends` resolved, and a label.
pub fn resolve_card(spec: &CardSpec, dir: &Path) -> Result<(Profile, String), String> {
    match spec {
        CardSpec::Named(name) => {
            let path = crate::load::find_profile(name, dir).ok_or_else(|| {
                format!("no profile {name:?}: write the name of a file in a profiles/ folder above the scenario (e.g. `default`, `sign-pin-one-try-left`) or a path relative to {}", dir.display())
            })?;
            let profile = crate::load::read_profile(&path).map_err(|e| e.to_string())?;
            Ok((profile, path.display().to_string()))
        }
        CardSpec::Inline(profile) => {
            let label = profile.extends.clone().unwrap_or_else(|| "inline profile".to_owned());
            let resolved = crate::load::resolve_profile((**profile).clone(), dir, &label).map_err(|e| e.to_string())?;
            Ok((resolved, format!("{label} (with overrides)")))
        }
    }
}

/// Which variable names are defined at a point of the scenario.
#[derive(Clone)]
struct Scope {
    defined: Vec<String>,
    cards: Vec<String>,
    restarts: bool,
    /// Inside a parallel branch or a bench block (which cannot hold a bench block).
    within: Option<&'static str>,
}

/// The facts every card has as `${card.X}` (first card) and `${cards.NAME.X}`.
pub const CARD_FACTS: &[&str] = &[
    "name",
    "my_number",
    "holder.name",
    "holder.address",
    "holder.birth_date",
    "holder.sex",
    "expires",
    "serial",
    "security_code",
    "dir",
    "pins.auth",
    "pins.sign",
    "pins.text",
    "pins.common",
    "pins.juki",
    "pins.text_code_a",
    "pins.text_code_b",
    "pins.surface_birth_date",
    "pins.surface_code_a",
    "pins.surface_code_b",
];

impl Scope {
    fn new(cards: &[String]) -> Scope {
        let mut defined = vec!["scenario.dir".to_owned(), "work".to_owned()];
        for fact in CARD_FACTS {
            defined.push(format!("card.{fact}"));
            for card in cards {
                defined.push(format!("cards.{card}.{fact}"));
            }
        }
        Scope { defined, cards: cards.to_vec(), restarts: false, within: None }
    }

    fn define(&mut self, name: &str) {
        self.defined.push(name.to_owned());
    }

    fn check(&self, name: &str) -> Result<(), String> {
        if name.starts_with("env.") || self.defined.iter().any(|d| d == name) {
            return Ok(());
        }
        let hint = if name.starts_with("card.") {
            format!("; a card's facts are {}", CARD_FACTS.iter().map(|f| format!("card.{f}")).collect::<Vec<_>>().join(", "))
        } else if name.starts_with("cards.") {
            format!("; this scenario's cards are {}", self.cards.join(", "))
        } else {
            let saved: Vec<&String> = self.defined.iter().filter(|d| !d.contains('.') && *d != "work").collect();
            if saved.is_empty() {
                "; define it under `vars:` or `save:` it in an earlier step (environment variables are ${env.NAME})".to_owned()
            } else {
                format!(
                    "; defined so far: {} (environment variables are ${{env.NAME}})",
                    saved.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                )
            }
        };
        Err(format!("variable `{name}` is not defined here{hint}"))
    }
}

fn check_template(t: &Template, scope: &Scope) -> Result<(), String> {
    t.references().try_for_each(|r| scope.check(r.name()))
}

type At<'a> = dyn Fn(Pos, String) -> ScenarioError + 'a;

fn check_steps(
    steps: &[Spanned<Step>],
    scope: &mut Scope,
    cards: &[String],
    named: &mut Vec<String>,
    needs_pcscd: &mut bool,
    dir: &Path,
    at: &At<'_>,
) -> Result<(), ScenarioError> {
    for step in steps {
        let pos = Pos::of(&step.referenced);
        let s = &step.value;
        if let Some(on) = &s.on {
            if !cards.contains(on) {
                return Err(at(pos, format!("`on: {on}` names no card; this scenario's cards are {}", cards.join(", "))));
            }
        }
        let templates = step_templates(&s.kind);
        for t in templates {
            check_template(t, scope).map_err(|e| at(pos, e))?;
        }
        match &s.kind {
            StepKind::Apdu(a) => a.save.0.iter().for_each(|(n, _)| scope.define(n)),
            StepKind::Run(r) => {
                *needs_pcscd = true;
                if let Program::Argv(argv) = &r.program {
                    if let Some(first) = argv.first().filter(|t| t.0.is_literal()) {
                        let program = first.0.text(&super::template::Vars::default()).unwrap_or_default();
                        if !program.contains('/') && crate::process::find_program(&program).is_none() {
                            return Err(at(pos, format!("program `{program}` is not installed (not on PATH, /usr/sbin, /sbin or ~/.cargo/bin); install it, give its full path, or use `shell:`")));
                        }
                    }
                }
                r.save.0.iter().for_each(|(n, _)| scope.define(n));
            }
            StepKind::Card(action) => {
                if matches!(action, CardAction::RestartPcscd) {
                    *needs_pcscd = true;
                }
                if matches!(action, CardAction::Restart) {
                    scope.restarts = true;
                }
                if let CardAction::Replace(spec) = action {
                    let (profile, label) = resolve_card(spec, dir).map_err(|e| at(pos, e))?;
                    profile.resolve(crate::load::today_in_japan(), &label).map_err(|e| at(pos, e.to_string()))?;
                }
            }
            StepKind::Fault(f) if f.kill_pcscd || f.drop_connection => *needs_pcscd = true,
            StepKind::State(expect) => {
                if let Some(since) = &expect.unchanged_since {
                    if !named.contains(since) {
                        return Err(at(pos, format!("unchanged_since: {since:?} names no earlier step; name a step with `name:` before this one, or write `start`")));
                    }
                }
                if let Some(applet) = &expect.applet {
                    if !matches!(applet.as_str(), "none" | "jpki" | "text" | "surface" | "common" | "juki") {
                        return Err(at(pos, format!("applet {applet:?}? write jpki, text, surface, common, juki or none")));
                    }
                }
                if let Some(ef) = &expect.ef {
                    if ef != "none" && !(ef.len() == 4 && ef.chars().all(|c| c.is_ascii_hexdigit())) {
                        return Err(at(pos, format!("ef {ef:?}? write 4 hex digits such as \"0017\", or none")));
                    }
                }
            }
            StepKind::Repeat(_, inner) => check_steps(inner, scope, cards, named, needs_pcscd, dir, at)?,
            StepKind::Parallel(branches) => {
                for branch in branches {
                    let bpos = Pos::of(&branch.referenced);
                    if let Some(on) = &branch.value.on {
                        if !cards.contains(on) {
                            return Err(at(bpos, format!("`on: {on}` names no card; this scenario's cards are {}", cards.join(", "))));
                        }
                    }
                    let mut inner = Scope { within: Some("a parallel branch"), ..scope.clone() };
                    check_steps(&branch.value.steps, &mut inner, cards, named, needs_pcscd, dir, at)?;
                    scope.restarts |= inner.restarts;
                }
            }
            StepKind::Bench(spec, inner) => {
                if let Some(within) = scope.within {
                    return Err(at(pos, format!("a bench block cannot be inside {within}; put it at the top level, with `cards: all` (or `cards: [a, b]`) to drive several cards at once")));
                }
                if let Some(BenchCards::Named(names)) = &spec.cards {
                    for (i, name) in names.iter().enumerate() {
                        if !cards.contains(name) {
                            return Err(at(
                                pos,
                                format!(
                                    "bench `cards:` names `{name}`, no card of this scenario; its cards are {} (or write `cards: all`)",
                                    cards.join(", ")
                                ),
                            ));
                        }
                        if names[..i].contains(name) {
                            return Err(at(pos, format!("bench `cards:` names `{name}` twice; a card is driven by one lane")));
                        }
                    }
                    if s.on.is_some() {
                        return Err(at(pos, "give `on:` (one card) or the bench's `cards:`, not both".to_owned()));
                    }
                }
                if matches!(spec.cards, Some(BenchCards::All)) && s.on.is_some() {
                    return Err(at(pos, "give `on:` (one card) or the bench's `cards:`, not both".to_owned()));
                }
                // Values saved inside stay inside (each card's lane has its own).
                let mut inner_scope = Scope { within: Some("a bench block"), ..scope.clone() };
                check_steps(inner, &mut inner_scope, cards, named, needs_pcscd, dir, at)?;
                scope.restarts |= inner_scope.restarts;
            }
            _ => {}
        }
        if let Some(name) = &s.name {
            named.push(name.clone());
        }
    }
    Ok(())
}

/// Every template a step expands (to check their variables).
fn step_templates(kind: &StepKind) -> Vec<&Template> {
    let mut out = Vec::new();
    match kind {
        StepKind::Apdu(a) => {
            out.push(&a.command.0);
            if let Some(same) = a.data.as_ref().and_then(|d| d.same_as.as_ref()) {
                out.push(&same.0);
            }
        }
        StepKind::Run(r) => {
            match &r.program {
                Program::Argv(argv) => out.extend(argv.iter().map(|t| &t.0)),
                Program::Shell(t) => out.push(&t.0),
            }
            out.extend(r.stdin.iter().chain(&r.stdin_file).map(|t| &t.0));
            out.extend(r.prompts.iter().map(|p| &p.send.0));
            out.extend(r.env.values().map(|t| &t.0));
            for expect in r.stdout.iter().chain(&r.stderr) {
                out.extend(expect.contains.iter().chain(&expect.not_contains).chain(&expect.equals).map(|t| &t.0));
            }
            for file in r.files.values() {
                out.extend(file.signature.iter().map(|s| &s.over.0));
            }
        }
        StepKind::Set(s) => {
            out.extend(s.new_pin.iter().map(|t| &t.0));
            out.extend(s.pins.values().filter_map(|p| p.value.as_ref()).map(|t| &t.0));
        }
        StepKind::Verify(v) => {
            out.extend([&v.signature, &v.digest_info, &v.hash, &v.message].into_iter().flatten().map(|t| &t.0));
            out.extend([&v.signature_file, &v.message_file].into_iter().flatten().map(|t| &t.0));
        }
        _ => {}
    }
    out
}
