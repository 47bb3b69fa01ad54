//! Figures drawn with plotters into SVG strings. Text is laid out with the embedded DejaVu Sans
//! (registered once through `ab_glyph`), so no system font is needed to build or draw.

use anyhow::{Result, anyhow};
use plotters::prelude::*;
use plotters::style::FontStyle;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::sync::Once;
use tokenlab_models::mechanisms::{of_reference, registry};

static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
static REGISTER: Once = Once::new();

fn register_font() {
    REGISTER.call_once(|| {
        // The font is compiled in; failing to parse it is a build defect, not user input.
        plotters::style::register_font("sans-serif", FontStyle::Normal, FONT)
            .map_err(|_| ())
            .expect("the embedded DejaVu Sans parses");
    });
}

/// One line of a chart.
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    /// Analytic predictions are dashed.
    pub dashed: bool,
    /// The mechanism's colour ([`mechanism_color`]), shaded where one mechanism has several
    /// configurations.
    pub color: RGBColor,
}

/// The one palette of the report: a mechanism's colour is its place in the registry, in every
/// figure (colour-blind friendly, from the Okabe–Ito set); grey for anything else.
pub fn mechanism_color(reference: &str) -> RGBColor {
    let index = of_reference(reference)
        .and_then(|m| registry().iter().position(|r| r.id() == m.id()))
        .unwrap_or(7);
    PALETTE[index.min(7)]
}

/// The `k`-th of `n` shades of one colour, darkest first: configurations of one mechanism.
pub fn shade(c: RGBColor, k: usize, n: usize) -> RGBColor {
    // From 35% darker to 35% lighter, so every shade stays distinguishable from white.
    let t = if n <= 1 {
        0.0
    } else {
        -0.35 + 0.7 * k as f64 / (n - 1) as f64
    };
    let f = |v: u8| {
        let v = f64::from(v);
        let out = if t < 0.0 {
            v * (1.0 + t)
        } else {
            v + (255.0 - v) * t
        };
        out.round().clamp(0.0, 255.0) as u8
    };
    RGBColor(f(c.0), f(c.1), f(c.2))
}

const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(0, 0, 0),
    RGBColor(120, 120, 120),
];

pub struct Chart<'a> {
    pub title: &'a str,
    pub x_label: &'a str,
    pub y_label: &'a str,
    pub x: (f64, f64),
    pub y: (f64, f64),
    /// Where the legend sits: the corner the data leaves free.
    pub legend: SeriesLabelPosition,
}

fn err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("drawing a figure: {e:?}")
}

/// A line chart with markers on measured series and dashed analytic series.
pub fn line_chart(c: &Chart, series: &[Series]) -> Result<String> {
    register_font();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (760, 460)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(c.title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d(c.x.0..c.x.1, c.y.0..c.y.1)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(c.x_label)
            .y_desc(c.y_label)
            .label_style(("sans-serif", 13))
            .axis_desc_style(("sans-serif", 15))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(err)?;
        for s in series {
            let col = s.color;
            if s.dashed {
                chart
                    .draw_series(DashedLineSeries::new(
                        s.points.iter().copied(),
                        6,
                        4,
                        col.stroke_width(2),
                    ))
                    .map_err(err)?
                    .label(s.name.clone())
                    .legend(move |(x, y)| {
                        // A dashed sample, so the legend reads like the line.
                        EmptyElement::at((x, y))
                            + PathElement::new(vec![(0, 0), (7, 0)], col.stroke_width(2))
                            + PathElement::new(vec![(11, 0), (18, 0)], col.stroke_width(2))
                    });
            } else {
                chart
                    .draw_series(LineSeries::new(
                        s.points.iter().copied(),
                        col.stroke_width(2),
                    ))
                    .map_err(err)?
                    .label(s.name.clone())
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 18, y)], col.stroke_width(3))
                    });
                if s.points.len() <= 40 {
                    chart
                        .draw_series(s.points.iter().map(|p| Circle::new(*p, 3, col.filled())))
                        .map_err(err)?;
                }
            }
        }
        chart
            .configure_series_labels()
            .label_font(("sans-serif", 13))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(c.legend.clone())
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// One bar of a bar chart.
pub struct Bar {
    pub label: String,
    pub value: f64,
    pub color: RGBColor,
    /// The quantity has no bound: the bar runs to `value` (the horizon) and says so.
    pub unbounded: bool,
}

/// A horizontal bar chart: one bar per label, value on the x axis. An unbounded bar is
/// hatched and ends in an arrow and the word "unbounded", so it never reads as a measurement.
pub fn bar_chart(title: &str, x_label: &str, bars: &[Bar]) -> Result<String> {
    register_font();
    let mut svg = String::new();
    {
        let h = 90 + 30 * bars.len() as u32;
        let root = SVGBackend::with_string(&mut svg, (760, h)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let max = bars
            .iter()
            .map(|b| b.value)
            .fold(0.0f64, f64::max)
            .max(1e-9)
            * 1.1;
        let n = bars.len().max(1);
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(260)
            .build_cartesian_2d(0.0..max, (0..n).into_segmented())
            .map_err(err)?;
        let labels: Vec<String> = bars.iter().map(|b| b.label.clone()).collect();
        chart
            .configure_mesh()
            .disable_y_mesh()
            .x_desc(x_label)
            .y_labels(n)
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => labels.get(*i).cloned().unwrap_or_default(),
                _ => String::new(),
            })
            .label_style(("sans-serif", 13))
            .axis_desc_style(("sans-serif", 15))
            .draw()
            .map_err(err)?;
        chart
            .draw_series(bars.iter().enumerate().map(|(i, b)| {
                let fill = if b.unbounded {
                    b.color.mix(0.35)
                } else {
                    b.color.mix(0.8)
                };
                let mut r = Rectangle::new(
                    [
                        (0.0, SegmentValue::Exact(i)),
                        (b.value, SegmentValue::Exact(i + 1)),
                    ],
                    fill.filled(),
                );
                r.set_margin(4, 4, 0, 0);
                r
            }))
            .map_err(err)?;
        for (i, b) in bars.iter().enumerate().filter(|(_, b)| b.unbounded) {
            // Hatching across the bar, then an arrowhead and a label past the horizon's end.
            let col = b.color;
            let steps = 24;
            chart
                .draw_series((0..steps).map(|k| {
                    let x0 = b.value * k as f64 / steps as f64;
                    let x1 = b.value * (k as f64 + 0.6) / steps as f64;
                    PathElement::new(
                        vec![
                            (x0, SegmentValue::Exact(i + 1)),
                            (x1, SegmentValue::Exact(i)),
                        ],
                        col.stroke_width(1),
                    )
                }))
                .map_err(err)?;
            chart
                .draw_series(std::iter::once(Text::new(
                    "unbounded →".to_string(),
                    (b.value * 0.99, SegmentValue::CenterOf(i)),
                    ("sans-serif", 12)
                        .into_font()
                        .color(&BLACK)
                        .pos(Pos::new(HPos::Right, VPos::Center)),
                )))
                .map_err(err)?;
        }
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// One delivered message of a sequence diagram.
pub struct Arrow {
    pub from: String,
    pub to: String,
    pub label: String,
    pub sent_ms: f64,
    pub received_ms: f64,
}

/// A sequence diagram of one cold path: lanes for the parties in order of appearance, arrows
/// at their simulated send and receive times (time runs down), in the mechanism's colour.
pub fn sequence(title: &str, arrows: &[Arrow], col: RGBColor) -> Result<String> {
    register_font();
    let mut lanes: Vec<String> = Vec::new();
    for a in arrows {
        for p in [&a.from, &a.to] {
            if !lanes.contains(p) {
                lanes.push(p.clone());
            }
        }
    }
    let t_end = arrows.iter().map(|a| a.received_ms).fold(1.0f64, f64::max);
    let (w, h) = (760i32, 120 + 34 * arrows.len() as i32);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (w as u32, h as u32)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let font = ("sans-serif", 13).into_font();
        root.draw(&Text::new(
            title.to_string(),
            (12, 10),
            ("sans-serif", 18).into_font(),
        ))
        .map_err(err)?;
        let lane_x = |i: usize| 80 + i as i32 * ((w - 160) / (lanes.len().max(2) as i32 - 1));
        let (top, bottom) = (70, h - 20);
        let y_of = |t: f64| top + ((t / t_end) * f64::from(bottom - top - 10)) as i32;
        for (i, l) in lanes.iter().enumerate() {
            let x = lane_x(i);
            root.draw(&Text::new(
                l.clone(),
                (x, 45),
                TextStyle::from(font.clone()).pos(Pos::new(HPos::Center, VPos::Center)),
            ))
            .map_err(err)?;
            root.draw(&PathElement::new(
                vec![(x, top - 10), (x, bottom)],
                RGBColor(170, 170, 170).stroke_width(1),
            ))
            .map_err(err)?;
        }
        for a in arrows {
            let fi = lanes.iter().position(|l| *l == a.from).unwrap_or(0);
            let ti = lanes.iter().position(|l| *l == a.to).unwrap_or(0);
            let (x0, x1) = (lane_x(fi), lane_x(ti));
            let (y0, y1) = (y_of(a.sent_ms), y_of(a.received_ms));
            root.draw(&PathElement::new(
                vec![(x0, y0), (x1, y1)],
                col.stroke_width(2),
            ))
            .map_err(err)?;
            let dir = if x1 >= x0 { -1 } else { 1 };
            root.draw(&PathElement::new(
                vec![(x1 + 8 * dir, y1 - 5), (x1, y1), (x1 + 8 * dir, y1 + 5)],
                col.stroke_width(2),
            ))
            .map_err(err)?;
            let label = format!("{} ({:.0}→{:.0} ms)", a.label, a.sent_ms, a.received_ms);
            root.draw(&Text::new(
                label,
                ((x0 + x1) / 2, (y0 + y1) / 2 - 8),
                TextStyle::from(font.clone()).pos(Pos::new(HPos::Center, VPos::Bottom)),
            ))
            .map_err(err)?;
        }
        root.present().map_err(err)?;
    }
    Ok(svg)
}
