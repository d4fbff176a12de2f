//! `sta lut plot`: an SVG of one approximator: f, the float PWL and the hardware outputs (top), both errors
//! (bottom), breakpoints as vertical lines. SVG only: plotters' bitmap backend needs a system font to draw text, which
//! the project's machines do not promise.

use std::path::PathBuf;

use clap::Args;
use plotters::prelude::*;
use sta_golden::pwl::{PwlParamsFile, PwlRange, PwlTable};

use super::formats::read_text;
use crate::error::{usage, Result, StaError};
use crate::output::{check_overwrite, write_file_atomically};

#[derive(Debug, Clone, Args)]
pub struct PlotArgs {
    /// Parameter file (from `sta lut search` or `sta lut import`).
    #[arg(long, value_name = "P.json")]
    pub params: PathBuf,
    /// Output image (.svg).
    #[arg(long, value_name = "fit.svg")]
    pub out: PathBuf,
    /// Replace an existing output file.
    #[arg(long)]
    pub force: bool,
}

pub fn run_plot(args: &PlotArgs) -> Result<()> {
    if !args
        .out
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("svg"))
    {
        return Err(usage(format!(
            "--out {}: only SVG output is supported: name the file *.svg",
            args.out.display()
        )));
    }
    let text = read_text(&args.params, "--params")?;
    let params = PwlParamsFile::from_json(&text)
        .map_err(|e| StaError::Usage(format!("--params {}: {e}", args.params.display())))?;
    check_overwrite(&args.out, args.force)?;
    let svg = plot_svg(&params)?;
    write_file_atomically(&args.out, svg.as_bytes(), args.force)?;
    println!(
        "plotted {} -> {}",
        args.params.display(),
        args.out.display()
    );
    Ok(())
}

/// The curves of one approximator, sampled.
struct Curves {
    exact: Vec<(f64, f64)>,
    float: Vec<(f64, f64)>,
    hardware: Vec<(f64, f64)>,
    float_error: Vec<(f64, f64)>,
    hardware_error: Vec<(f64, f64)>,
    breakpoints: Vec<f64>,
}

fn curves(params: &PwlParamsFile, table: &PwlTable, range: PwlRange) -> Result<Curves> {
    let f = |x: f64| params.function.eval(x);
    let (first, last) = range.codes(table.format.input_frac_bits).map_err(usage)?;
    let samples = 1000;
    let xs: Vec<f64> = (0..samples)
        .map(|i| range.lo() + (range.hi() - range.lo()) * i as f64 / samples as f64)
        .collect();
    let hardware: Vec<(f64, f64)> = (first..=last)
        .map(|q| {
            (
                table.format.input_value(i64::from(q)),
                table.output_value(table.eval(q)),
            )
        })
        .collect();
    Ok(Curves {
        exact: xs.iter().map(|&x| (x, f(x))).collect(),
        float: xs.iter().map(|&x| (x, table.eval_float(x))).collect(),
        float_error: xs
            .iter()
            .map(|&x| (x, table.eval_float(x) - f(x)))
            .collect(),
        hardware_error: hardware.iter().map(|&(x, y)| (x, y - f(x))).collect(),
        hardware,
        breakpoints: table
            .breakpoints
            .iter()
            .map(|&p| table.format.input_value(i64::from(p)))
            .filter(|&x| x >= range.lo() && x < range.hi())
            .collect(),
    })
}

/// Renders the SVG into a string.
pub fn plot_svg(params: &PwlParamsFile) -> Result<String> {
    let table = params.table().map_err(usage)?;
    let range = params.pwl_range().map_err(usage)?;
    let c = curves(params, &table, range)?;
    let mut svg = String::new();
    draw(&mut svg, params, &c)
        .map_err(|e| StaError::Tool(format!("drawing the plot failed: {e}")))?;
    Ok(svg)
}

type DrawResult = std::result::Result<(), Box<dyn std::error::Error>>;

fn draw(svg: &mut String, params: &PwlParamsFile, c: &Curves) -> DrawResult {
    let root = SVGBackend::with_string(svg, (900, 700)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, bottom) = root.split_vertically(440);
    let title = format!(
        "{} {} entries, D_IN {}, {}-bit Q{}.{} coefficients, {}-bit output (D_OUT {}): float MSE {:.2e}, hardware MSE {:.2e}",
        params.function,
        params.entries,
        params.input_frac_bits,
        params.coeff_bits,
        params.coeff_bits.saturating_sub(params.coeff_frac_bits + 1),
        params.coeff_frac_bits,
        params.output_bits,
        params.output_frac_bits,
        params.mse.float,
        params.mse.hardware
    );
    let x_range = params.range[0]..params.range[1];
    let values = c.exact.iter().chain(&c.hardware).map(|p| p.1);
    let mut chart = ChartBuilder::on(&top)
        .caption(title, ("sans-serif", 15))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(50)
        .build_cartesian_2d(x_range.clone(), padded(values))?;
    chart
        .configure_mesh()
        .max_light_lines(0)
        .y_desc("y")
        .draw()?;
    draw_breakpoints(&mut chart, &c.breakpoints)?;
    chart
        .draw_series(LineSeries::new(
            c.exact.iter().copied(),
            BLUE.stroke_width(2),
        ))?
        .label("f(x)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE));
    chart
        .draw_series(LineSeries::new(
            c.float.iter().copied(),
            RGBColor(230, 120, 0),
        ))?
        .label("PWL (float x)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RGBColor(230, 120, 0)));
    chart
        .draw_series(c.hardware.iter().map(|&p| Circle::new(p, 2, RED.filled())))?
        .label("hardware output per INT8 code")
        .legend(|(x, y)| Circle::new((x + 10, y), 3, RED.filled()));
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;

    let errors = c.float_error.iter().chain(&c.hardware_error).map(|p| p.1);
    let mut chart = ChartBuilder::on(&bottom)
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(50)
        .build_cartesian_2d(x_range, padded(errors))?;
    chart
        .configure_mesh()
        .max_light_lines(0)
        .x_desc("x")
        .y_desc("approximation − f")
        .draw()?;
    draw_breakpoints(&mut chart, &c.breakpoints)?;
    chart.draw_series(LineSeries::new(
        c.float_error.iter().copied(),
        RGBColor(230, 120, 0),
    ))?;
    chart.draw_series(
        c.hardware_error
            .iter()
            .map(|&p| Circle::new(p, 2, RED.filled())),
    )?;
    root.present()?;
    Ok(())
}

type Chart<'a, 'b> = ChartContext<
    'a,
    SVGBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

fn draw_breakpoints(chart: &mut Chart<'_, '_>, breakpoints: &[f64]) -> DrawResult {
    let (y0, y1) = (chart.y_range().start, chart.y_range().end);
    let grey = RGBColor(170, 170, 170);
    chart.draw_series(
        breakpoints
            .iter()
            .map(|&x| PathElement::new(vec![(x, y0), (x, y1)], grey)),
    )?;
    Ok(())
}

/// The range of the values with 5 % room on both sides (and a minimal height for a flat line).
fn padded(values: impl Iterator<Item = f64>) -> std::ops::Range<f64> {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if lo > hi {
        return -1.0..1.0;
    }
    let pad = ((hi - lo) * 0.05).max(1e-6);
    (lo - pad)..(hi + pad)
}
