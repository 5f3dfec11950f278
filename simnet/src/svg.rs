//! Hand-written SVG line and scatter plots for the report and the docs (no plotting crate:
//! the output is small, deterministic text).

use std::fmt::Write;

/// One data series.
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    pub color: &'static str,
    /// Dots instead of a line.
    pub dots: bool,
}

pub struct Plot {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub log_x: bool,
    pub series: Vec<Series>,
    /// Fixed y range (else from the data, starting at zero when all values are positive).
    pub y_range: Option<(f64, f64)>,
    /// A dashed horizontal reference line and its label.
    pub hline: Option<(f64, String)>,
}

pub const COLORS: [&str; 6] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
];

const W: f64 = 760.0;
const H: f64 = 420.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 55.0;

/// A "nice" tick step for a range split into about `n` parts.
fn nice_step(range: f64, n: f64) -> f64 {
    let raw = (range / n).max(f64::MIN_POSITIVE);
    let mag = 10f64.powf(raw.log10().floor());
    let r = raw / mag;
    let f = if r < 1.5 {
        1.0
    } else if r < 3.0 {
        2.0
    } else if r < 7.0 {
        5.0
    } else {
        10.0
    };
    f * mag
}

fn fmt_tick(v: f64, step: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if !(1e-3..1e6).contains(&a) {
        return format!("{v:.0e}");
    }
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10().floor()) as usize
    };
    format!("{v:.decimals$}")
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

pub fn render(p: &Plot) -> String {
    let pts = p.series.iter().flat_map(|s| s.points.iter());
    let mut xs: Vec<f64> = Vec::new();
    let mut ys: Vec<f64> = Vec::new();
    for (x, y) in pts {
        if x.is_finite() && y.is_finite() && (!p.log_x || *x > 0.0) {
            xs.push(*x);
            ys.push(*y);
        }
    }
    let fx = |x: f64| if p.log_x { x.log10() } else { x };
    let (mut x0, mut x1) = xs
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
            (a.min(fx(*x)), b.max(fx(*x)))
        });
    if !x0.is_finite() {
        (x0, x1) = (0.0, 1.0);
    }
    if x1 - x0 < 1e-12 {
        x1 = x0 + 1.0;
    }
    if p.log_x {
        x0 = x0.floor();
        x1 = x1.ceil().max(x0 + 1.0);
    }
    let (mut y0, mut y1) = match p.y_range {
        Some(r) => r,
        None => {
            let (a, b) = ys
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), y| {
                    (a.min(*y), b.max(*y))
                });
            if !a.is_finite() {
                (0.0, 1.0)
            } else {
                let mut a = if a > 0.0 { 0.0 } else { a };
                let mut b = b;
                if let Some((h, _)) = &p.hline {
                    a = a.min(*h);
                    b = b.max(*h);
                }
                (a, b * 1.05)
            }
        }
    };
    if y1 - y0 < 1e-12 {
        y1 = y0 + 1.0;
    }
    let ystep = nice_step(y1 - y0, 5.0);
    if p.y_range.is_none() {
        y0 = (y0 / ystep).floor() * ystep;
        y1 = (y1 / ystep).ceil() * ystep;
    }
    let pw = W - LEFT - RIGHT;
    let ph = H - TOP - BOTTOM;
    let sx = |x: f64| LEFT + (fx(x) - x0) / (x1 - x0) * pw;
    let sy = |y: f64| TOP + ph - (y.clamp(y0, y1) - y0) / (y1 - y0) * ph;

    let mut o = String::new();
    let _ = writeln!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(o, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = writeln!(
        o,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="15">{}</text>"#,
        W / 2.0,
        esc(&p.title)
    );
    // Axes and grid.
    let mut yt = y0;
    while yt <= y1 + ystep * 1e-6 {
        let y = sy(yt);
        let _ = writeln!(
            o,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#e5e5e5"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            W - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            fmt_tick(yt, ystep)
        );
        yt += ystep;
    }
    if p.log_x {
        let mut e = x0 as i32;
        while e as f64 <= x1 {
            let x = LEFT + (e as f64 - x0) / (x1 - x0) * pw;
            let _ = writeln!(
                o,
                r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{:.1}" stroke="#e5e5e5"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">1e{e}</text>"##,
                TOP + ph,
                TOP + ph + 16.0
            );
            e += 1;
        }
    } else {
        let xstep = nice_step(x1 - x0, 8.0);
        let mut xt = (x0 / xstep).ceil() * xstep;
        while xt <= x1 + xstep * 1e-6 {
            let x = LEFT + (xt - x0) / (x1 - x0) * pw;
            let _ = writeln!(
                o,
                r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{:.1}" stroke="#e5e5e5"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
                TOP + ph,
                TOP + ph + 16.0,
                fmt_tick(xt, xstep)
            );
            xt += xstep;
        }
    }
    let _ = writeln!(
        o,
        r#"<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="black"/>"#
    );
    let _ = writeln!(
        o,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
        LEFT + pw / 2.0,
        H - 12.0,
        esc(&p.x_label)
    );
    let _ = writeln!(
        o,
        r#"<text x="16" y="{:.1}" text-anchor="middle" transform="rotate(-90 16 {:.1})">{}</text>"#,
        TOP + ph / 2.0,
        TOP + ph / 2.0,
        esc(&p.y_label)
    );
    if let Some((h, label)) = &p.hline {
        let y = sy(*h);
        let _ = writeln!(
            o,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#555" stroke-dasharray="6 4"/><text x="{:.1}" y="{:.1}" text-anchor="end" fill="#555">{}</text>"##,
            W - RIGHT,
            W - RIGHT - 4.0,
            y - 4.0,
            esc(label)
        );
    }
    // Data.
    for s in &p.series {
        let valid: Vec<(f64, f64)> = s
            .points
            .iter()
            .copied()
            .filter(|(x, y)| x.is_finite() && y.is_finite() && (!p.log_x || *x > 0.0))
            .collect();
        if s.dots {
            let _ = writeln!(o, r#"<g fill="{}" fill-opacity="0.6">"#, s.color);
            for (x, y) in &valid {
                let _ = writeln!(
                    o,
                    r#"<circle cx="{:.0}" cy="{:.0}" r="2.2"/>"#,
                    sx(*x),
                    sy(*y)
                );
            }
            o.push_str("</g>\n");
        } else if !valid.is_empty() {
            let mut d = String::new();
            for (i, (x, y)) in valid.iter().enumerate() {
                let _ = write!(
                    d,
                    "{}{:.1},{:.1}",
                    if i == 0 { "M" } else { " L" },
                    sx(*x),
                    sy(*y)
                );
            }
            let _ = writeln!(
                o,
                r#"<path d="{d}" fill="none" stroke="{}" stroke-width="1.6"/>"#,
                s.color
            );
        }
    }
    // Legend.
    for (i, s) in p.series.iter().enumerate() {
        let y = TOP + 14.0 + 16.0 * i as f64;
        let x = LEFT + 12.0;
        let _ = writeln!(
            o,
            r#"<rect x="{x:.1}" y="{:.1}" width="14" height="4" fill="{}"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            y - 6.0,
            s.color,
            x + 20.0,
            y,
            esc(&s.name)
        );
    }
    o.push_str("</svg>\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_well_formed_document() {
        let p = Plot {
            title: "t <1>".into(),
            x_label: "x".into(),
            y_label: "y".into(),
            log_x: true,
            series: vec![Series {
                name: "a".into(),
                points: vec![(1.0, 1.0), (10.0, 2.0), (1000.0, 0.5), (0.0, 3.0)],
                color: COLORS[0],
                dots: false,
            }],
            y_range: None,
            hline: Some((1.0, "one".into())),
        };
        let s = render(&p);
        assert!(s.starts_with("<svg") && s.ends_with("</svg>\n"));
        assert!(s.contains("t &lt;1&gt;"));
        assert!(s.contains("<path d=\"M"));
    }
}
