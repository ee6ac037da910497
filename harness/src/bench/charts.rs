//! SVG charts from a [`Report`] (`mynasim bench --charts DIR`), drawn with `plotters`:
//! throughput against the number of cards (signing, READ BINARY) against their ceilings,
//! and latency distributions (cumulative, log time axis) of the card against its peers.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Result};
use plotters::prelude::*;

use super::report::{Distribution, Report, Series};

const COLOURS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(90, 90, 90),
];

fn err(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("drawing a chart: {e}")
}

/// Draws every chart the report has data for into `dir`; returns the files written.
pub fn write_all(report: &Report, dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    let pick = |names: &[&str]| -> Vec<&Series> { names.iter().filter_map(|n| report.series.iter().find(|s| s.name == *n)).collect() };
    let signing = pick(&[
        "scaling.in_process.sign",
        "scaling.ceiling.sign",
        "scaling.openssl_threads.sign",
        "scaling.pcsc.sign",
        "scaling.pcsc.sign_in_process",
    ]);
    if !signing.is_empty() {
        let path = dir.join("signing-vs-cards.svg");
        throughput(&path, "RSA-2048 signing: throughput vs cards signing at once", "signs/s", &signing)?;
        written.push(path);
    }
    let reading = pick(&["scaling.pcsc.read_binary", "scaling.pcsc.null"]);
    if !reading.is_empty() {
        let path = dir.join("read-binary-vs-cards.svg");
        throughput(&path, "READ BINARY through pcscd + vpcd: throughput vs cards", "APDU/s", &reading)?;
        written.push(path);
    }
    let pickd = |names: &[&str]| -> Vec<&Distribution> {
        names.iter().filter_map(|n| report.distributions.iter().find(|d| d.name == *n)).collect()
    };
    let apdu = pickd(&["latency.tcp_loopback", "latency.pcsc.null", "latency.pcsc.mynasim", "latency.pcsc.vicc"]);
    if !apdu.is_empty() {
        let path = dir.join("apdu-latency.svg");
        latency(&path, "Non-crypto APDU round trip: card vs floors and peers", &apdu)?;
        written.push(path);
    }
    let signing = pickd(&["latency.pkcs11.softhsm", "latency.pkcs11.opensc", "latency.pcsc.sign"]);
    if !signing.is_empty() {
        let path = dir.join("sign-latency.svg");
        latency(&path, "Signing latency: PKCS#11 (SoftHSM2, OpenSC + mynasim) and raw 80 2A", &signing)?;
        written.push(path);
    }
    Ok(written)
}

fn throughput(path: &Path, title: &str, unit: &str, series: &[&Series]) -> Result<()> {
    let root = SVGBackend::new(path, (900, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let x_max = series.iter().flat_map(|s| &s.points).map(|p| p.0).fold(1.0f64, f64::max).max(2.0);
    let y_max = series.iter().flat_map(|s| &s.points).map(|p| p.1).fold(1.0f64, f64::max) * 1.15;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d((1.0f64..x_max).log_scale(), 0.0f64..y_max)
        .map_err(err)?;
    chart.configure_mesh().x_desc("cards at once (log)").y_desc(unit).draw().map_err(err)?;
    for (i, s) in series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        chart
            .draw_series(LineSeries::new(s.points.iter().copied(), colour.stroke_width(2)))
            .map_err(err)?
            .label(s.label.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2)));
        chart.draw_series(s.points.iter().map(|p| Circle::new(*p, 4, colour.filled()))).map_err(err)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}

fn latency(path: &Path, title: &str, distributions: &[&Distribution]) -> Result<()> {
    let root = SVGBackend::new(path, (900, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let all = || distributions.iter().flat_map(|d| d.quantiles_ms.iter().copied()).filter(|v| v.is_finite() && *v > 0.0);
    let lo = all().fold(f64::INFINITY, f64::min).min(1.0) * 0.8;
    let hi = all().fold(0.0f64, f64::max).max(lo * 10.0) * 1.25;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d((lo..hi).log_scale(), 0.0f64..100.0)
        .map_err(err)?;
    chart.configure_mesh().x_desc("milliseconds (log)").y_desc("% of round trips at or below").draw().map_err(err)?;
    for (i, d) in distributions.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let points: Vec<(f64, f64)> =
            d.quantiles_ms.iter().enumerate().filter(|(_, v)| v.is_finite() && **v > 0.0).map(|(q, v)| (*v, q as f64 * 5.0)).collect();
        let label = format!("{} (median {:.3} ms, n = {})", d.label, d.median_ms(), d.samples);
        chart
            .draw_series(LineSeries::new(points, colour.stroke_width(2)))
            .map_err(err)?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_written_for_the_data_present() {
        let mut report = Report::new(true);
        report.series.push(Series {
            name: "scaling.pcsc.null".into(),
            label: "null".into(),
            x: "cards".into(),
            y: "APDU/s".into(),
            points: vec![(1.0, 10.0), (2.0, 19.0)],
        });
        report.distributions.push(Distribution::of("latency.pcsc.null", "null", &mut [0.05, 0.06, 0.1]));
        let dir = tempfile::tempdir().unwrap();
        let files = write_all(&report, dir.path()).unwrap();
        let names: Vec<_> = files.iter().map(|f| f.file_name().unwrap().to_string_lossy().into_owned()).collect();
        assert_eq!(names, ["read-binary-vs-cards.svg", "apdu-latency.svg"]);
        let svg = std::fs::read_to_string(&files[0]).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("null"), "{svg:.200}");
    }
}
