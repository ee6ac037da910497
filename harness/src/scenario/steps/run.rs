//! `run` and `shell`: an external program against the card, with the sandbox's
//! `PCSCLITE_CSOCK_NAME`, in the scenario's work folder; prompts answered through a
//! pseudo-terminal; exit code, output and written files checked.

use crate::process::{run_program, Input, Invocation, ProgramSpec, Prompt};
use crate::scenario::format::{ExitExpect, FileExpect, Program, RunStep, SaveSource, TextExpect};
use crate::scenario::matchers::excerpt;
use crate::scenario::result::Failure;
use crate::scenario::runner::Context;
use crate::scenario::template::Value;

fn expand(cx: &Context<'_>, t: &crate::scenario::format::TextTemplate) -> Result<String, Failure> {
    t.0.text(&cx.vars).map_err(|e| Failure::new(e.to_string()))
}

pub(super) fn run(cx: &mut Context<'_>, step: &RunStep) -> Result<(), Failure> {
    if cx.program_env.is_empty() {
        return Err(Failure::new(
            "a run step needs a private pcscd; this scenario runs in process (drop --in-process, or install pcscd and vsmartcard-vpcd)",
        ));
    }
    let invocation = match &step.program {
        Program::Argv(argv) => Invocation::Argv(argv.iter().map(|a| expand(cx, a)).collect::<Result<_, _>>()?),
        Program::Shell(text) => Invocation::Shell(expand(cx, text)?),
    };
    let mut spec = ProgramSpec::new(invocation, &cx.work);
    spec.env = cx.program_env.clone();
    for (k, v) in &step.env {
        spec.env.push((k.clone(), expand(cx, v)?));
    }
    spec.input = match (&step.stdin, &step.stdin_file) {
        (Some(text), _) => Input::Text(expand(cx, text)?.into_bytes()),
        (None, Some(file)) => Input::File(cx.work.join(expand(cx, file)?)),
        (None, None) => Input::Null,
    };
    for p in &step.prompts {
        spec.prompts.push(Prompt { expect: p.expect.0.regex.clone(), send: expand(cx, &p.send)?, secret: p.secret });
    }
    spec.terminal = step.terminal;
    spec.timeout = step.timeout.min(cx.deadline.saturating_duration_since(std::time::Instant::now()));
    spec.output_cap = step.output_cap;
    let outcome = run_program(&spec).map_err(|e| {
        use crate::process::ProgramError as E;
        let (expected, actual) = match &e {
            E::PromptNeverCame { expect, seen, .. } => (format!("the prompt /{expect}/"), format!("the terminal showed \"{seen}\"")),
            E::TimedOut { after, .. } => (format!("the program ends within {after:?}"), "still running; killed".to_owned()),
            E::OutputCap { stream, cap } => (format!("at most {cap} bytes on {stream}"), "more; killed".to_owned()),
            E::EchoStayedOn { expect, .. } => (
                format!("echo turned off after /{expect}/ (a secret prompt)"),
                "echo stayed on; add `secret: false` for visible input".to_owned(),
            ),
            E::NotFound { program } => ("an installed program".to_owned(), format!("`{program}` not found")),
            _ => ("the program runs to its end".to_owned(), e.to_string()),
        };
        Failure::differ("program", expected, actual).with_detail(e.to_string())
    })?;
    let stdout = String::from_utf8_lossy(&outcome.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&outcome.stderr).into_owned();
    let output = || format!("stdout: {}\nstderr: {}", excerpt(&stdout, 600), excerpt(&stderr, 600));
    let exit_ok = match step.exit {
        ExitExpect::Any => true,
        ExitExpect::Code(code) => outcome.exit == crate::process::Exit::Code(code),
        ExitExpect::Failure => matches!(outcome.exit, crate::process::Exit::Code(c) if c != 0),
    };
    if !exit_ok {
        let expected = match step.exit {
            ExitExpect::Code(c) => format!("exit code {c}"),
            ExitExpect::Failure => "a non-zero exit code".to_owned(),
            ExitExpect::Any => "any exit".to_owned(),
        };
        return Err(Failure::differ("exit code", expected, outcome.exit.to_string()).with_detail(output()));
    }
    if let Some(expect) = &step.stdout {
        check_text(cx, "stdout", expect, &stdout).map_err(|f| f.with_detail(output()))?;
    }
    if let Some(expect) = &step.stderr {
        check_text(cx, "stderr", expect, &stderr).map_err(|f| f.with_detail(output()))?;
    }
    for (name, expect) in &step.files {
        check_file(cx, name, expect)?;
    }
    for (name, source) in &step.save.0 {
        let value = match source {
            None | Some(SaveSource::Stdout) => stdout.trim().to_owned(),
            Some(SaveSource::Stderr) => stderr.trim().to_owned(),
            Some(SaveSource::StdoutRegex(p)) => {
                let captures = p.regex.captures(&stdout).ok_or_else(|| {
                    Failure::differ(format!("save {name}"), format!("stdout matching /{}/", p.text), excerpt(&stdout, 300))
                })?;
                captures.get(1).or_else(|| captures.get(0)).map(|m| m.as_str().to_owned()).unwrap_or_default()
            }
            Some(_) => return Err(Failure::new("internal: run save source")),
        };
        cx.vars.set(name.clone(), Value::Text(value));
    }
    Ok(())
}

/// Checks program output (or a file's text).
pub(crate) fn check_text(cx: &Context<'_>, what: &str, expect: &TextExpect, text: &str) -> Result<(), Failure> {
    for needle in &expect.contains {
        let needle = expand(cx, needle)?;
        if !text.contains(&needle) {
            return Err(Failure::differ(what, format!("contains {}", excerpt(&needle, 200)), excerpt(text, 400)));
        }
    }
    for needle in &expect.not_contains {
        let needle = expand(cx, needle)?;
        if text.contains(&needle) {
            return Err(Failure::differ(what, format!("does not contain {}", excerpt(&needle, 200)), excerpt(text, 400)));
        }
    }
    for re in &expect.regex {
        if !re.0.regex.is_match(text) {
            return Err(Failure::differ(what, format!("matches /{}/", re.0.text), excerpt(text, 400)));
        }
    }
    if let Some(equals) = &expect.equals {
        let want = expand(cx, equals)?;
        if text.trim() != want.trim() {
            return Err(Failure::differ(what, excerpt(want.trim(), 400), excerpt(text.trim(), 400)));
        }
    }
    if let Some(empty) = expect.empty {
        if text.trim().is_empty() != empty {
            return Err(Failure::differ(what, if empty { "empty" } else { "not empty" }, excerpt(text, 400)));
        }
    }
    Ok(())
}

fn check_file(cx: &Context<'_>, name: &str, expect: &FileExpect) -> Result<(), Failure> {
    let path = cx.work.join(name);
    let exists = path.is_file();
    let want_exists = expect.exists.unwrap_or(true);
    if exists != want_exists {
        return Err(Failure::differ(
            format!("file {name}"),
            if want_exists { "exists" } else { "does not exist" },
            if exists { "exists" } else { "missing" },
        ));
    }
    if !exists {
        return Ok(());
    }
    let data = std::fs::read(&path).map_err(|e| Failure::new(format!("cannot read {}: {e}", path.display())))?;
    if let Some(size) = expect.size {
        if data.len() as u64 != size {
            return Err(Failure::differ(format!("file {name} size"), format!("{size} bytes"), format!("{} bytes", data.len())));
        }
    }
    if let Some(want) = &expect.sha256 {
        let hash = crate::verify::Digest::Sha256.hash(&data).map_err(|e| Failure::new(e.to_string()))?;
        if !want.0.matches(&hash) {
            return Err(Failure::differ(format!("file {name} SHA-256"), "the given hash", crate::scenario::template::hex(&hash)));
        }
    }
    if let Some(text) = &expect.text {
        check_text(cx, &format!("file {name}"), text, &String::from_utf8_lossy(&data))?;
    }
    if let Some(sig) = &expect.signature {
        let over = cx.work.join(expand(cx, &sig.over)?);
        let message = std::fs::read(&over).map_err(|e| Failure::new(format!("cannot read {}: {e}", over.display())))?;
        let certificate = super::verify::card_certificate(cx, cx.card_index(None), sig.by.into())?;
        crate::verify::verify_signature(
            &certificate,
            &data,
            crate::verify::Signed::Message { digest: sig.digest.into(), data: &message },
            sig.padding.into(),
        )
        .map_err(|e| {
            Failure::differ(format!("file {name}"), format!("a signature over {} by the {:?} key", over.display(), sig.by), e.to_string())
        })?;
    }
    Ok(())
}
