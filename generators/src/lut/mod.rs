//! `sta lut …`: GQA-LUT piecewise-linear approximators (search, import, compare, plot, RTL).

use clap::Subcommand;

use crate::error::Result;

#[derive(Debug, Subcommand)]
pub enum LutCommand {}

impl LutCommand {
    pub fn run(self) -> Result<()> {
        match self {}
    }
}
