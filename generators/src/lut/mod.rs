//! `sta lut …`: GQA-LUT piecewise-linear approximators (search, import, compare, plot, RTL).
//!
//! The arithmetic (functions, the integer datapath, both error measures, the parameter file) lives in
//! `sta_golden::{functions, pwl}`; this module holds the search and the commands around it.

pub mod compare;
pub mod formats;
pub mod import;
pub mod plot;
pub mod rtl;
pub mod search;

use clap::Subcommand;

use crate::error::Result;

#[derive(Debug, Subcommand)]
pub enum LutCommand {
    /// Search breakpoints and coefficients of one function with the quantization-aware genetic algorithm.
    Search(search::SearchArgs),
    /// Convert a GQA-LUT reference parameter file into our parameter file at one input scale.
    Import(import::ImportArgs),
    /// Search every function that has a reference file and compare both error measures with the reference's.
    Compare(compare::CompareArgs),
    /// Plot a parameter file: the function, the approximation, the error and the breakpoints (SVG).
    Plot(plot::PlotArgs),
    /// Generate the Verilog of an approximator from a parameter file.
    Rtl(rtl::RtlArgs),
}

impl LutCommand {
    pub fn run(self) -> Result<()> {
        match self {
            LutCommand::Search(args) => search::run_search(&args),
            LutCommand::Import(args) => import::run_import(&args),
            LutCommand::Compare(args) => compare::run_compare(&args),
            LutCommand::Plot(args) => plot::run_plot(&args),
            LutCommand::Rtl(args) => rtl::run_rtl(&args),
        }
    }
}
