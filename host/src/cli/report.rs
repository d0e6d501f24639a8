//! HTML reports with plots, written by `spore devnet --report DIR` and `spore bench
//! --report DIR`: one self-contained `index.html` (inline SVG drawn by `plotters`, inline
//! CSS, no scripts, no network) that any browser opens offline, plus each plot as an
//! `.svg` file beside it.
//!
//! A report is a title and a list of sections: key figures, line charts (one series per
//! member, say), histograms (a latency distribution) and event tables.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use plotters::prelude::*;

/// One line of a line chart.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend label.
    pub label: String,
    /// Points `(x, y)`, in x order.
    pub points: Vec<(f64, f64)>,
}

/// A part of a report.
#[derive(Debug, Clone)]
pub enum Section {
    /// Key figures: `(name, value)` rows.
    Figures(String, Vec<(String, String)>),
    /// A line chart.
    Lines {
        /// Title.
        title: String,
        /// X axis label.
        x: String,
        /// Y axis label.
        y: String,
        /// The lines.
        series: Vec<Series>,
    },
    /// A histogram of values.
    Histogram {
        /// Title.
        title: String,
        /// X axis label (the values' unit).
        x: String,
        /// The values.
        values: Vec<f64>,
    },
    /// A table: header and rows.
    Table(String, Vec<String>, Vec<Vec<String>>),
}

/// A report being assembled.
#[derive(Debug, Clone)]
pub struct Report {
    title: String,
    subtitle: String,
    sections: Vec<Section>,
}

const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
];

const WIDTH: u32 = 880;
const HEIGHT: u32 = 380;

impl Report {
    /// An empty report.
    pub fn new(title: impl Into<String>, subtitle: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            subtitle: subtitle.into(),
            sections: Vec::new(),
        }
    }

    /// Append a section.
    pub fn push(&mut self, section: Section) -> &mut Self {
        self.sections.push(section);
        self
    }

    /// Write `index.html` and the plots' `.svg` files into `dir` (created); returns the
    /// page's path.
    pub fn write(&self, dir: &Path) -> anyhow::Result<PathBuf> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut body = String::new();
        let mut plots = 0usize;
        for section in &self.sections {
            match section {
                Section::Figures(title, rows) => {
                    let _ = write!(body, "<h2>{}</h2><table class=\"figures\">", esc(title));
                    for (k, v) in rows {
                        let _ = write!(body, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(v));
                    }
                    body.push_str("</table>");
                }
                Section::Lines {
                    title,
                    x,
                    y,
                    series,
                } => {
                    plots += 1;
                    let svg = lines_svg(title, x, y, series)?;
                    body.push_str(&figure(dir, plots, title, &svg)?);
                }
                Section::Histogram { title, x, values } => {
                    plots += 1;
                    let svg = histogram_svg(title, x, values)?;
                    body.push_str(&figure(dir, plots, title, &svg)?);
                }
                Section::Table(title, header, rows) => {
                    let _ = write!(body, "<h2>{}</h2><table class=\"rows\"><tr>", esc(title));
                    for h in header {
                        let _ = write!(body, "<th>{}</th>", esc(h));
                    }
                    body.push_str("</tr>");
                    if rows.is_empty() {
                        let _ = write!(
                            body,
                            "<tr><td colspan=\"{}\">none</td></tr>",
                            header.len().max(1)
                        );
                    }
                    for row in rows {
                        body.push_str("<tr>");
                        for cell in row {
                            let _ = write!(body, "<td>{}</td>", esc(cell));
                        }
                        body.push_str("</tr>");
                    }
                    body.push_str("</table>");
                }
            }
        }
        let page = format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <title>{title}</title><style>{CSS}</style></head><body>\
             <h1>{title}</h1><p class=\"sub\">{subtitle}</p>{body}\
             <p class=\"sub\">Written by spore {version}. Self-contained: no scripts, no \
             network; each plot is also an .svg file in this folder.</p></body></html>\n",
            title = esc(&self.title),
            subtitle = esc(&self.subtitle),
            version = env!("CARGO_PKG_VERSION"),
        );
        let path = dir.join("index.html");
        std::fs::write(&path, page).with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }
}

const CSS: &str = "body{font-family:sans-serif;max-width:940px;margin:2em auto;color:#222}\
h1{margin-bottom:0}.sub{color:#666}h2{margin-top:1.6em;border-bottom:1px solid #ddd}\
table{border-collapse:collapse;margin:.5em 0}th,td{padding:.2em .8em;text-align:left;\
border-bottom:1px solid #eee}table.figures th{font-weight:normal;color:#555}\
figure{margin:1em 0}figcaption{color:#555;font-size:.9em}";

fn figure(dir: &Path, n: usize, title: &str, svg: &str) -> anyhow::Result<String> {
    let file = format!("plot-{n}.svg");
    let path = dir.join(&file);
    std::fs::write(&path, svg).with_context(|| format!("writing {}", path.display()))?;
    Ok(format!(
        "<h2>{}</h2><figure>{svg}<figcaption><a href=\"{file}\">{file}</a></figcaption></figure>",
        esc(title)
    ))
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The range of `values` with a margin, never empty.
fn span(values: impl Iterator<Item = f64>, floor_zero: bool) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if floor_zero && lo > 0.0 {
        lo = 0.0;
    }
    if hi - lo < 1e-9 {
        hi = lo + 1.0;
    }
    let pad = (hi - lo) * 0.05;
    (
        if floor_zero && lo >= 0.0 {
            lo
        } else {
            lo - pad
        },
        hi + pad,
    )
}

fn plot_error(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("drawing a plot: {e}")
}

/// A line chart as an SVG document.
pub fn lines_svg(title: &str, x: &str, y: &str, series: &[Series]) -> anyhow::Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let xs = span(
            series.iter().flat_map(|s| s.points.iter().map(|p| p.0)),
            false,
        );
        let ys = span(
            series.iter().flat_map(|s| s.points.iter().map(|p| p.1)),
            true,
        );
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(64)
            .build_cartesian_2d(xs.0..xs.1, ys.0..ys.1)
            .map_err(plot_error)?;
        chart
            .configure_mesh()
            .x_desc(x)
            .y_desc(y)
            .light_line_style(RGBColor(240, 240, 240))
            .draw()
            .map_err(plot_error)?;
        for (i, s) in series.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            chart
                .draw_series(LineSeries::new(
                    s.points.iter().copied(),
                    color.stroke_width(2),
                ))
                .map_err(plot_error)?
                .label(s.label.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
        }
        if series.len() > 1 {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(RGBColor(200, 200, 200))
                .position(SeriesLabelPosition::LowerLeft)
                .draw()
                .map_err(plot_error)?;
        }
        root.present().map_err(plot_error)?;
    }
    Ok(svg)
}

/// A histogram (24 equal bins over the values' range) as an SVG document.
pub fn histogram_svg(title: &str, x: &str, values: &[f64]) -> anyhow::Result<String> {
    const BINS: usize = 24;
    let (lo, hi) = span(values.iter().copied(), true);
    let width = (hi - lo) / BINS as f64;
    let mut counts = [0u32; BINS];
    for v in values.iter().filter(|v| v.is_finite()) {
        let bin = (((v - lo) / width) as usize).min(BINS - 1);
        counts[bin] += 1;
    }
    let top = counts.iter().copied().max().unwrap_or(0).max(1);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(52)
            .build_cartesian_2d(lo..hi, 0u32..top + top / 10 + 1)
            .map_err(plot_error)?;
        chart
            .configure_mesh()
            .x_desc(x)
            .y_desc("count")
            .light_line_style(RGBColor(240, 240, 240))
            .draw()
            .map_err(plot_error)?;
        chart
            .draw_series(counts.iter().enumerate().map(|(i, c)| {
                let x0 = lo + width * i as f64;
                Rectangle::new([(x0, 0), (x0 + width, *c)], PALETTE[0].mix(0.8).filled())
            }))
            .map_err(plot_error)?;
        root.present().map_err(plot_error)?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_writes_a_self_contained_page_with_every_plot() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let mut report = Report::new("Test <report>", "subtitle & more");
        report
            .push(Section::Figures(
                "Figures".into(),
                vec![("ops".into(), "12".into())],
            ))
            .push(Section::Lines {
                title: "trust".into(),
                x: "slot".into(),
                y: "bps".into(),
                series: vec![
                    Series {
                        label: "n1".into(),
                        points: vec![(0.0, 9000.0), (5.0, 9100.0)],
                    },
                    Series {
                        label: "n4".into(),
                        points: vec![(0.0, 9000.0), (5.0, 2000.0)],
                    },
                ],
            })
            .push(Section::Histogram {
                title: "latency".into(),
                x: "ms".into(),
                values: vec![1.0, 2.0, 2.5, 40.0],
            })
            .push(Section::Lines {
                title: "empty".into(),
                x: "x".into(),
                y: "y".into(),
                series: vec![],
            })
            .push(Section::Table(
                "events".into(),
                vec!["slot".into(), "event".into()],
                vec![],
            ));
        let page = std::fs::read_to_string(report.write(dir.path())?)?;
        assert_eq!(page.matches("<svg").count(), 3, "three plots inline");
        assert!(page.contains("Test &lt;report&gt;") && page.contains("subtitle &amp; more"));
        assert!(
            !page.contains("<script") && !page.contains("src=") && !page.contains("href=\"http")
        );
        assert!(dir.path().join("plot-3.svg").is_file());
        assert!(page.contains("\nn4\n"), "legend names every series");
        Ok(())
    }
}
