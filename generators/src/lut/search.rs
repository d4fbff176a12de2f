//! `sta lut search`: the quantization-aware genetic search (GQA-LUT's algorithm, made exact for INT8 hardware).
//!
//! An individual is K−1 breakpoints, kept as INT8 codes at the input scale from the start, so nothing is lost when
//! the result is quantized. Each segment gets the weighted least-squares line over the points the fitness measures,
//! rounded to the coefficient format and then improved by an integer descent on the exact measure (`segments.rs`);
//! the fitness is the float MSE, the hardware MSE of the integer datapath, or their sum. The loop is GQA-LUT's:
//! tournament selection (3), two-point crossover (p = 0.7), Gaussian mutation (p = 0.2) and the rounding mutation
//! (a breakpoint snapped to a multiple of 2^j codes), plus elitism and a final ±1-code hill climb on the best.
//! Segment fits are memoised and evaluated on all cores; every random draw happens on one thread from a ChaCha
//! stream seeded by `--seed`, so the result depends on the seed only.

mod segments;

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use sta_golden::pwl::{
    signed_bits, Provenance, PwlParamsFile, PwlTable, Source, MAX_ENTRIES, MIN_ENTRIES,
};

pub use segments::Fitness;
use segments::Segments;

use super::formats::{parse_function, FormatArgs, Resolved};
use crate::error::{usage, Result, StaError};
use crate::output::{check_overwrite, write_file_atomically};

#[derive(Debug, Clone, Args)]
pub struct SearchArgs {
    /// gelu, hswish, exp, reci (1/x), rsqrt, silu, sigmoid or tanh.
    #[arg(long)]
    pub function: String,
    /// K, the number of segments (4..=32).
    #[arg(long, default_value_t = 8)]
    pub entries: usize,
    #[command(flatten)]
    pub formats: FormatArgs,
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// Output parameter file (.json).
    #[arg(long, value_name = "P.json")]
    pub out: PathBuf,
    /// Replace an existing output file.
    #[arg(long)]
    pub force: bool,
}

/// The genetic algorithm's knobs; the defaults are GQA-LUT's reference settings.
#[derive(Debug, Clone, Args)]
pub struct SettingsArgs {
    /// Seed of the random stream: the same seed gives the same parameters.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[arg(long, default_value_t = 50)]
    pub population: usize,
    #[arg(long, default_value_t = 500)]
    pub generations: usize,
    /// Probability that a pair of parents is recombined (two-point crossover).
    #[arg(long, default_value_t = 0.7)]
    pub crossover: f64,
    /// Probability that an individual is mutated (Gaussian moves of its breakpoints).
    #[arg(long, default_value_t = 0.2)]
    pub mutation: f64,
    /// Probability that an individual gets the rounding mutation.
    #[arg(long, default_value_t = 0.05)]
    pub rounding: f64,
    /// Tournament size of the selection.
    #[arg(long, default_value_t = 3)]
    pub tournament: usize,
    /// The measure minimised.
    #[arg(long, value_enum, default_value_t = Fitness::Sum)]
    pub fitness: Fitness,
    /// Independent populations of --population each, stepped on all cores, exchanging their best every 25
    /// generations: cheap insurance against a population converging early.
    #[arg(long, default_value_t = 8)]
    pub islands: usize,
    /// ga: the genetic algorithm; exact: dynamic programming over every breakpoint code (slower, optimal).
    #[arg(long, value_enum, default_value_t = Method::Ga)]
    pub method: Method,
}

impl SettingsArgs {
    fn validate(&self) -> Result<()> {
        let probability = |name: &str, p: f64| {
            if (0.0..=1.0).contains(&p) {
                Ok(())
            } else {
                Err(usage(format!(
                    "--{name} = {p} is not a probability: it must lie in 0..=1"
                )))
            }
        };
        probability("crossover", self.crossover)?;
        probability("mutation", self.mutation)?;
        probability("rounding", self.rounding)?;
        let count = |name: &str, v: usize, min: usize, max: usize| {
            if (min..=max).contains(&v) {
                Ok(())
            } else {
                Err(usage(format!("--{name} = {v} is outside {min}..={max}")))
            }
        };
        count("population", self.population, 2, 100_000)?;
        count("generations", self.generations, 0, 1_000_000)?;
        count("islands", self.islands, 1, 64)?;
        count("tournament", self.tournament, 1, self.population)
    }
}

/// What one search found.
#[derive(Debug, Clone)]
pub struct SearchOutcome {
    pub table: PwlTable,
    pub seconds: f64,
}

/// A validated search problem: function, range, formats and K.
#[derive(Debug, Clone, Copy)]
pub struct SearchProblem {
    pub resolved: Resolved,
    pub entries: usize,
}

impl SearchProblem {
    pub fn new(resolved: Resolved, entries: usize) -> Result<Self> {
        if !(MIN_ENTRIES..=MAX_ENTRIES).contains(&entries) {
            return Err(usage(sta_golden::PwlError::Entries { entries }));
        }
        Ok(SearchProblem { resolved, entries })
    }
}

pub fn run_search(args: &SearchArgs) -> Result<()> {
    let function = parse_function(&args.function)?;
    let problem = SearchProblem::new(args.formats.resolve(function)?, args.entries)?;
    args.settings.validate()?;
    check_overwrite(&args.out, args.force)?;
    let outcome = search(
        &problem,
        &args.settings,
        &progress_bar(args.settings.generations),
    )?;
    let file = params_file(&problem, &args.settings, &outcome)?;
    write_file_atomically(&args.out, file.to_json().as_bytes(), args.force)?;
    println!(
        "{}-{}: float MSE {:.3e}, hardware MSE {:.3e} in {:.2} s -> {}",
        function,
        problem.entries,
        file.mse.float,
        file.mse.hardware,
        outcome.seconds,
        args.out.display()
    );
    Ok(())
}

/// A progress bar over generations on stderr; indicatif draws nothing when stderr is not a terminal.
pub fn progress_bar(generations: usize) -> ProgressBar {
    let bar = ProgressBar::new(generations as u64);
    if let Ok(style) = ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} generations") {
        bar.set_style(style);
    }
    bar
}

/// The parameter file of a search outcome, with its provenance.
pub fn params_file(
    problem: &SearchProblem,
    settings: &SettingsArgs,
    outcome: &SearchOutcome,
) -> Result<PwlParamsFile> {
    let provenance = Provenance {
        generator: format!("sta {}", env!("CARGO_PKG_VERSION")),
        source: Source::Search,
        seed: Some(settings.seed),
        population: Some(settings.population),
        generations: Some(settings.generations),
        fitness: Some(settings.fitness.name().to_string()),
        search_seconds: Some((outcome.seconds * 1000.0).round() / 1000.0),
        reference: None,
    };
    let r = &problem.resolved;
    PwlParamsFile::new(r.function, r.range, &outcome.table, provenance).map_err(usage)
}

/// Runs the search (the GA, or the exact dynamic program with `--method exact`). Fails if no segmentation has
/// coefficients that fit CW bits.
pub fn search(
    problem: &SearchProblem,
    settings: &SettingsArgs,
    bar: &ProgressBar,
) -> Result<SearchOutcome> {
    let start = Instant::now();
    let r = &problem.resolved;
    let (first, last) = r.range.codes(r.format.input_frac_bits).map_err(usage)?;
    let segments = Segments::new(r.function, r.range, r.format, settings.fitness, first, last);
    let ga = Genetic {
        segments: &segments,
        genes: problem.entries - 1,
        settings,
    };
    let best = match settings.method {
        Method::Ga => {
            bar.set_message(format!("{}-{}", r.function, problem.entries));
            let best = ga.run(bar);
            bar.finish_and_clear();
            best
        }
        Method::Exact => {
            let (genes, fitness) = segments::optimum(&segments, problem.entries, EXCESS_PENALTY);
            Individual { genes, fitness }
        }
    };
    let table = ga.table(&best, problem)?;
    Ok(SearchOutcome {
        table,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// How breakpoints are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Method {
    /// The genetic algorithm (GQA-LUT's method).
    Ga,
    /// Exact dynamic programming over all breakpoint codes (the GA's yardstick).
    Exact,
}

/// Breakpoint positions (1..=N, non-decreasing) and their fitness.
#[derive(Debug, Clone)]
struct Individual {
    genes: Vec<usize>,
    fitness: f64,
}

/// One independent population with its own random stream.
struct Island {
    rng: ChaCha8Rng,
    population: Vec<Individual>,
    best: Individual,
}

/// Weight of one code of coefficient excess: far above any MSE, so fitting CW comes first.
const EXCESS_PENALTY: f64 = 1e3;

/// Generations between migrations: each island's best replaces the next island's worst (a ring).
const MIGRATION_INTERVAL: usize = 25;

struct Genetic<'a> {
    segments: &'a Segments,
    genes: usize,
    settings: &'a SettingsArgs,
}

impl Genetic<'_> {
    /// Islands step in lockstep (in parallel: each owns its random stream, so the result does not depend on
    /// scheduling), migrate every few generations, and the overall best is polished by a hill climb.
    fn run(&self, bar: &ProgressBar) -> Individual {
        let mut islands: Vec<Island> = (0..self.settings.islands)
            .map(|i| self.island(i as u64))
            .collect();
        for generation in 1..=self.settings.generations {
            islands.par_iter_mut().for_each(|island| self.step(island));
            if generation % MIGRATION_INTERVAL == 0 {
                migrate(&mut islands);
            }
            bar.inc(1);
        }
        let best = islands
            .iter()
            .map(|island| &island.best)
            .min_by(|a, b| a.fitness.total_cmp(&b.fitness))
            .cloned()
            .unwrap_or_else(|| self.evaluate(self.even()));
        self.hill_climb(best)
    }

    fn fitness(&self, genes: &[usize]) -> f64 {
        self.bounds(genes)
            .map(|(s, e)| {
                let fit = self.segments.fit(s, e);
                fit.cost + EXCESS_PENALTY * fit.excess as f64
            })
            .sum()
    }

    fn evaluate(&self, genes: Vec<usize>) -> Individual {
        Individual {
            fitness: self.fitness(&genes),
            genes,
        }
    }

    /// The segments [s, e) of an individual: −∞ (0), its breakpoints, +∞ (N + 1).
    fn bounds<'g>(&self, genes: &'g [usize]) -> impl Iterator<Item = (usize, usize)> + 'g {
        let end = self.segments.codes() + 1;
        let starts = std::iter::once(0).chain(genes.iter().copied());
        let ends = genes.iter().copied().chain(std::iter::once(end));
        starts.zip(ends)
    }

    /// Evenly spaced breakpoints.
    fn even(&self) -> Vec<usize> {
        let (n, k) = (self.segments.codes(), self.genes + 1);
        (1..k).map(|j| (1 + (j * n) / k).min(n)).collect()
    }

    /// Island `index`: stream `index` of the seed; evenly spaced breakpoints plus random ones.
    fn island(&self, index: u64) -> Island {
        let mut rng = ChaCha8Rng::seed_from_u64(self.settings.seed);
        rng.set_stream(index);
        let n = self.segments.codes();
        let mut population = vec![self.evaluate(self.even())];
        while population.len() < self.settings.population {
            let mut genes: Vec<usize> = (0..self.genes).map(|_| rng.gen_range(1..=n)).collect();
            genes.sort_unstable();
            population.push(self.evaluate(genes));
        }
        let best = best_of(&population);
        Island {
            rng,
            population,
            best,
        }
    }

    /// One generation: tournament selection, crossover, mutation, elitism.
    fn step(&self, island: &mut Island) {
        let rng = &mut island.rng;
        let population = &island.population;
        let mut offspring: Vec<Vec<usize>> = (0..population.len())
            .map(|_| self.tournament(rng, population).genes.clone())
            .collect();
        self.crossover_all(rng, &mut offspring);
        for genes in &mut offspring {
            self.mutate(rng, genes);
        }
        island.population = offspring.into_iter().map(|g| self.evaluate(g)).collect();
        replace_worst(&mut island.population, island.best.clone());
        island.best = best_of(&island.population);
    }

    fn tournament<'p>(&self, rng: &mut ChaCha8Rng, population: &'p [Individual]) -> &'p Individual {
        let mut winner = &population[rng.gen_range(0..population.len())];
        for _ in 1..self.settings.tournament {
            let other = &population[rng.gen_range(0..population.len())];
            if other.fitness < winner.fitness {
                winner = other;
            }
        }
        winner
    }

    /// Two-point crossover of consecutive pairs; the children are re-sorted (breakpoints stay non-decreasing).
    fn crossover_all(&self, rng: &mut ChaCha8Rng, offspring: &mut [Vec<usize>]) {
        for pair in offspring.chunks_exact_mut(2) {
            if self.genes < 2 || !rng.gen_bool(self.settings.crossover) {
                continue;
            }
            let a = rng.gen_range(0..self.genes);
            let b = rng.gen_range(0..self.genes);
            let (lo, hi) = (a.min(b), a.max(b) + 1);
            let (left, right) = pair.split_at_mut(1);
            left[0][lo..hi].swap_with_slice(&mut right[0][lo..hi]);
            left[0].sort_unstable();
            right[0].sort_unstable();
        }
    }

    /// Mutation moves about two breakpoints: a quarter anywhere (uniform), a quarter by a Gaussian of half a mean
    /// segment, half by a Gaussian of 1.5 codes. The rounding mutation snaps one breakpoint to a multiple of 2^j codes
    /// (j = 1…4), GQA-LUT's jump to coarser grids.
    fn mutate(&self, rng: &mut ChaCha8Rng, genes: &mut [usize]) {
        let n = self.segments.codes();
        let clamp = |v: f64| v.round().clamp(1.0, n as f64) as usize;
        if rng.gen_bool(self.settings.mutation) {
            let coarse = (n as f64 / (2.0 * (self.genes + 1) as f64)).max(1.0);
            let per_gene = (2.0 / self.genes as f64).min(1.0);
            for g in genes.iter_mut() {
                if rng.gen_bool(per_gene) {
                    *g = match rng.gen_range(0..4) {
                        0 => rng.gen_range(1..=n),
                        1 => clamp(*g as f64 + coarse * gaussian(rng)),
                        _ => clamp(*g as f64 + 1.5 * gaussian(rng)),
                    };
                }
            }
        }
        if rng.gen_bool(self.settings.rounding) {
            let i = rng.gen_range(0..genes.len());
            let step = f64::from(1u32 << rng.gen_range(1..=4));
            let code = f64::from(self.segments.code_of(genes[i]));
            let snapped = (code / step).round() * step;
            genes[i] = clamp(genes[i] as f64 + snapped - code);
        }
        genes.sort_unstable();
    }

    /// Moves single breakpoints by ±1 and ±2 codes while that helps (a GA converges slowly on the last codes).
    fn hill_climb(&self, mut best: Individual) -> Individual {
        let n = self.segments.codes() as i64;
        loop {
            let mut improved = false;
            for i in 0..self.genes {
                for delta in [-2i64, -1, 1, 2] {
                    let moved = best.genes[i] as i64 + delta;
                    if moved < 1 || moved > n {
                        continue;
                    }
                    let mut genes = best.genes.clone();
                    genes[i] = moved as usize;
                    genes.sort_unstable();
                    let candidate = self.evaluate(genes);
                    if candidate.fitness < best.fitness {
                        best = candidate;
                        improved = true;
                    }
                }
            }
            if !improved {
                return best;
            }
        }
    }

    /// The integer table of an individual, or the error that its coefficients do not fit CW.
    fn table(&self, best: &Individual, problem: &SearchProblem) -> Result<PwlTable> {
        let fits: Vec<_> = self
            .bounds(&best.genes)
            .map(|(s, e)| *self.segments.fit(s, e))
            .collect();
        let format = problem.resolved.format;
        if fits.iter().any(|f| f.excess > 0) {
            let wanted: Vec<i64> = fits.iter().flat_map(|f| [f.wanted.0, f.wanted.1]).collect();
            return Err(StaError::Usage(format!(
                "coeff_bits = {} is too narrow for {} on [{}, {}) with {} entries: the best segmentation found needs \
                 coeff_bits ≥ {} at coeff_frac_bits = {}",
                format.coeff_bits,
                problem.resolved.function,
                problem.resolved.range.lo(),
                problem.resolved.range.hi(),
                problem.entries,
                signed_bits(&wanted),
                format.coeff_frac_bits
            )));
        }
        Ok(PwlTable {
            format,
            breakpoints: best
                .genes
                .iter()
                .map(|&g| self.segments.code_of(g))
                .collect(),
            slopes: fits.iter().map(|f| f.slope).collect(),
            intercepts: fits.iter().map(|f| f.intercept).collect(),
        })
    }
}

fn best_of(population: &[Individual]) -> Individual {
    population
        .iter()
        .min_by(|a, b| a.fitness.total_cmp(&b.fitness))
        .cloned()
        .unwrap_or(Individual {
            genes: Vec::new(),
            fitness: f64::INFINITY,
        })
}

fn replace_worst(population: &mut [Individual], newcomer: Individual) {
    let worst = (0..population.len())
        .max_by(|&a, &b| population[a].fitness.total_cmp(&population[b].fitness));
    if let Some(worst) = worst {
        population[worst] = newcomer;
    }
}

/// Ring migration: island i's best replaces island i + 1's worst.
fn migrate(islands: &mut [Island]) {
    let bests: Vec<Individual> = islands.iter().map(|i| i.best.clone()).collect();
    let count = islands.len();
    for (i, best) in bests.into_iter().enumerate() {
        let target = &mut islands[(i + 1) % count];
        replace_worst(&mut target.population, best);
        target.best = best_of(&target.population);
    }
}

/// A standard normal draw (Box–Muller), so the stream depends on `rand` alone.
fn gaussian(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
    let u2: f64 = rng.gen_range(0.0..1.0);
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}
