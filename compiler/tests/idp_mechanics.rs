//! The mechanics of inherited dynamic pruning on a tiny random BERT (a few steps each): the trainable forward pass
//! agrees with the float reference, weights outside the mask stay exactly zero through optimiser steps, the loss goes
//! down on a fixed batch, masks nest level to level, a resumed run equals an uninterrupted one, the one-shot
//! baseline gets the chain's budget, and a checkpoint directory of another run is refused.

use std::collections::BTreeMap;
use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sta_compiler::float_ref::FloatReference;
use sta_compiler::idp::chain::{
    level_dir_name, open_checkpoint, run_chain, RunInputs, RunSpec, Schedule, TextInfo, MASKS_FILE,
    METRICS_FILE,
};
use sta_compiler::idp::data::TrainingData;
use sta_compiler::idp::student::{sentence_embeddings, MaskedLinear, Packing, Student};
use sta_compiler::idp::train::{batch_loss, frozen_from, train_fixed_batch, TrainConfig};
use sta_compiler::model::BertModel;
use sta_compiler::pipeline::{compile_program, default_quant_options, CompileRequest, Reference};
use sta_compiler::prune::NmMask;
use sta_compiler::prune::PruneMethod;
use sta_compiler::tokenize::write_test_tokenizer;
use sta_golden::nm::NmPattern;

const M: usize = 4;

fn teacher() -> BertModel {
    BertModel::tiny_random(BertModel::TINY_DIMS, 31)
}

/// `count` random sentences of 5..=12 tokens: [CLS]=2, ids 4..100, [SEP]=3.
fn sentences(count: usize, seed: u64) -> Vec<Vec<u32>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..count)
        .map(|_| {
            let len = rng.gen_range(5..=12);
            let mut s = vec![2];
            s.extend((0..len - 2).map(|_| rng.gen_range(4..100u32)));
            s.push(3);
            s
        })
        .collect()
}

fn data(teacher: &BertModel) -> TrainingData {
    TrainingData::new(teacher, sentences(40, 1), &mut |_, _| {}).unwrap()
}

fn config() -> TrainConfig {
    TrainConfig {
        batch: 8,
        lr: 1e-3,
        warmup: 2,
        update_every: 4,
        hidden_weight: 1.0,
        stats_batches: 2,
        fade: 0.5,
        seed: 5,
    }
}

/// Every linear of `student` set to the magnitude n:M mask of its weights (allowed = current).
fn magnitude_masks(student: &mut Student, n: usize) {
    for (_, _, lin) in student.linears_mut() {
        let w: Vec<f32> = lin
            .weight
            .as_tensor()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let mut keep = vec![false; w.len()];
        for (g, kg) in w.chunks(M).zip(keep.chunks_mut(M)) {
            let mut order: Vec<usize> = (0..M).collect();
            order.sort_by(|&a, &b| g[b].abs().total_cmp(&g[a].abs()));
            order[..n].iter().for_each(|&j| kg[j] = true);
        }
        let mask = NmMask {
            n,
            keep,
            ..lin.allowed.clone()
        };
        lin.set_allowed(mask).unwrap();
    }
}

fn weight_values(student: &Student) -> Vec<Vec<f32>> {
    student_values(student, |l| Ok(l.weight.as_tensor().clone()))
}

/// `f` of every linear, flattened.
fn student_values(
    student: &Student,
    f: impl Fn(&MaskedLinear) -> sta_compiler::error::Result<candle_core::Tensor>,
) -> Vec<Vec<f32>> {
    student
        .linears()
        .map(|(_, _, l)| f(l).unwrap().flatten_all().unwrap().to_vec1().unwrap())
        .collect()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()))
}

#[test]
fn trainable_forward_matches_the_float_reference() {
    let model = teacher();
    let student = Student::new(&model, M).unwrap();
    let batch = sentences(3, 9);
    let reference = FloatReference::new(&model).unwrap();
    let data = TrainingData::new(&model, batch.clone(), &mut |_, _| {}).unwrap();
    let b = data.batch(&[0, 1, 2]).unwrap();
    let pass = student.forward(&b.x, &b.packing).unwrap();
    let mut row = 0;
    for s in &batch {
        let states = reference.hidden_states(s, model.dims.layers).unwrap();
        for (l, out) in pass.outputs.iter().enumerate() {
            let got: Vec<f32> = out
                .narrow(0, row, s.len())
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            let d = max_abs_diff(&got, &states[l + 1].data);
            assert!(d < 1e-4, "layer {l}: {d}");
        }
        row += s.len();
    }
    let lengths: Vec<usize> = batch.iter().map(Vec::len).collect();
    let packing = Packing::new(&lengths, student.device()).unwrap();
    let emb = sentence_embeddings(pass.outputs.last().unwrap(), &packing).unwrap();
    let emb: Vec<Vec<f32>> = emb.to_vec2().unwrap();
    for (got, want) in emb.iter().zip(reference.embed(&batch).unwrap()) {
        assert!(max_abs_diff(got, &want) < 1e-5);
    }
    // The teacher's own loss against its cached outputs is zero up to rounding.
    assert!(batch_loss(&student, &data, &[0, 1, 2], 1.0).unwrap() < 1e-6);
}

#[test]
fn weights_outside_the_mask_stay_exactly_zero_through_optimiser_steps() {
    let model = teacher();
    let data = data(&model);
    let mut student = Student::new(&model, M).unwrap();
    magnitude_masks(&mut student, 2);
    let inherited = student_values(&student, |l| l.latent());
    // Dynamic phase: a 1:4 mask inside the inherited 2:4 set (each group's last kept entry to the reserve).
    let select = |student: &mut Student, keep_last: bool| {
        for (_, _, lin) in student.linears_mut() {
            let mut current = lin.allowed.clone();
            current.n = 1;
            for g in current.keep.chunks_mut(M) {
                let kept: Vec<usize> = (0..M).filter(|&j| g[j]).collect();
                g[kept[usize::from(!keep_last)]] = false;
            }
            lin.set_current(current).unwrap();
        }
    };
    select(&mut student, false);
    train_fixed_batch(&student, &data, &[0, 1, 2, 3], 5, &config()).unwrap();
    let weights = student_values(&student, |l| Ok(l.weight.as_tensor().clone()));
    let latent = student_values(&student, |l| l.latent());
    let mut trained = 0;
    for (l, lin) in student.linears().map(|(_, _, lin)| lin).enumerate() {
        for i in 0..weights[l].len() {
            if !lin.current.keep[i] {
                assert_eq!(weights[l][i].to_bits(), 0f32.to_bits(), "outside the mask");
            }
            if lin.allowed.keep[i] && !lin.current.keep[i] {
                // In the reserve: untrained, its inherited value kept.
                assert_eq!(latent[l][i].to_bits(), inherited[l][i].to_bits());
            }
            trained += usize::from(lin.current.keep[i] && latent[l][i] != inherited[l][i]);
        }
    }
    assert!(trained > 0);
    // Swapping the mask inside the inherited set brings the reserve's values back exactly.
    select(&mut student, true);
    for ((_, _, lin), (w, before)) in student.linears().zip(
        student_values(&student, |l| Ok(l.weight.as_tensor().clone()))
            .iter()
            .zip(&latent),
    ) {
        for i in 0..w.len() {
            if lin.current.keep[i] {
                assert_eq!(w[i].to_bits(), before[i].to_bits());
            } else {
                assert_eq!(w[i].to_bits(), 0f32.to_bits());
            }
        }
    }
    // Frozen phase: zero outside the final mask, and it stays so.
    for (_, _, lin) in student.linears_mut() {
        lin.freeze().unwrap();
    }
    train_fixed_batch(&student, &data, &[4, 5, 6, 7], 5, &config()).unwrap();
    let out = student.to_model().unwrap();
    for ((l, kind, lin), w) in student.linears().zip(weight_values(&student)) {
        assert_eq!(lin.allowed, lin.current);
        assert!(lin.current.is_legal() && lin.current.n == 1);
        let saved = &out.layers[l].linear(kind).weight.data;
        for i in 0..w.len() {
            if !lin.current.keep[i] {
                assert_eq!(w[i].to_bits(), 0f32.to_bits());
                assert_eq!(saved[i].to_bits(), 0f32.to_bits());
            }
        }
        let groups_kept = lin
            .current
            .keep
            .chunks(M)
            .all(|g| g.iter().filter(|&&k| k).count() == 1);
        assert!(groups_kept, "{l} {kind:?}");
    }
}

#[test]
fn loss_goes_down_on_a_fixed_batch() {
    let model = teacher();
    let data = data(&model);
    let mut student = Student::new(&model, M).unwrap();
    magnitude_masks(&mut student, 1);
    let batch = [0, 1, 2, 3, 4, 5, 6, 7];
    let losses = train_fixed_batch(&student, &data, &batch, 30, &config()).unwrap();
    let after = batch_loss(&student, &data, &batch, 1.0).unwrap();
    assert!(losses[0] > 1e-3, "{losses:?}");
    assert!(after < 0.5 * losses[0], "{losses:?} then {after}");
}

#[test]
fn the_frozen_phase_starts_at_the_last_selection() {
    assert_eq!(frozen_from(400, 100), 300);
    assert_eq!(frozen_from(450, 100), 300);
    assert_eq!(frozen_from(199, 100), 0);
    assert_eq!(frozen_from(12, 4), 8);
    assert_eq!(frozen_from(400, 0), 0);
}

/// A run's fixed inputs on the tiny model.
struct Setup {
    model: BertModel,
    data: TrainingData,
    reference: Reference,
    calibration: Vec<Vec<u32>>,
    tokenizer: std::path::PathBuf,
    dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Setup {
        let model = teacher();
        let dir = tempfile::tempdir().unwrap();
        let tokenizer = write_test_tokenizer(dir.path(), &["the", "cat"]).unwrap();
        Setup {
            tokenizer,
            data: data(&model),
            reference: Reference::new(&model, &sentences(12, 2)).unwrap(),
            calibration: sentences(8, 3),
            model,
            dir,
        }
    }

    fn spec(&self, schedule: Schedule, target: usize) -> RunSpec {
        RunSpec {
            generator: "test".into(),
            model: "tiny".into(),
            model_sha256: "a".repeat(64),
            m: M,
            schedule,
            one_shot_target: (schedule == Schedule::OneShot).then_some(target),
            steps_per_level: 12,
            train: config(),
            text: TextInfo::new(vec!["random".into()], &sentences(40, 1)),
        }
    }

    fn inputs(&self, integer: bool) -> RunInputs<'_> {
        RunInputs {
            teacher: &self.model,
            tokenizer_file: &self.tokenizer,
            data: &self.data,
            reference: &self.reference,
            calibration: integer.then_some(self.calibration.as_slice()),
            quant: default_quant_options(),
        }
    }

    /// Runs (or resumes) a chain in `name` down to `target`, training at most `max_levels` levels.
    fn run(
        &self,
        name: &str,
        spec: &RunSpec,
        target: usize,
        max_levels: Option<usize>,
    ) -> std::path::PathBuf {
        let ckpt = self.dir.path().join(name);
        open_checkpoint(&ckpt, spec, true, false).unwrap();
        let integer = name.contains("int");
        run_chain(
            &ckpt,
            spec,
            target,
            &self.inputs(integer),
            max_levels,
            &mut |_| {},
        )
        .unwrap();
        ckpt
    }
}

/// A level's masks by weight name.
fn level_masks(ckpt: &Path, n: usize) -> BTreeMap<String, Vec<u8>> {
    let bytes = std::fs::read(ckpt.join(level_dir_name(n, M)).join(MASKS_FILE)).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    st.iter()
        .map(|(name, view)| (name.to_string(), view.data().to_vec()))
        .collect()
}

fn level_file(ckpt: &Path, n: usize, file: &str) -> Vec<u8> {
    std::fs::read(ckpt.join(level_dir_name(n, M)).join(file)).unwrap()
}

#[test]
fn masks_nest_level_to_level_and_every_level_compiles() {
    let s = Setup::new();
    let spec = s.spec(Schedule::Idp, 1);
    let ckpt = s.run("chain-int", &spec, 1, None);
    let mut previous: Option<BTreeMap<String, Vec<u8>>> = None;
    for n in (1..M).rev() {
        let masks = level_masks(&ckpt, n);
        let model = BertModel::load(&ckpt.join(level_dir_name(n, M))).unwrap();
        for mask in masks.values() {
            assert!(mask
                .chunks(M)
                .all(|g| g.iter().filter(|&&k| k == 1).count() == n));
        }
        if let Some(prev) = &previous {
            for (a, b) in masks.values().zip(prev.values()) {
                assert!(
                    a.iter().zip(b).all(|(&x, &y)| x == 0 || y == 1),
                    "level {n} not inside level {}",
                    n + 1
                );
            }
        }
        // The saved weights are zero outside the mask and the level compiles to an n:M integer program.
        assert_eq!(masks.len(), 6 * model.dims.layers);
        for (name, _, w) in model.named_tensors() {
            if let Some(mask) = masks.get(&name) {
                assert!(
                    w.iter().zip(mask).all(|(&v, &k)| k == 1 || v == 0.0),
                    "{name}"
                );
            }
        }
        // `sta compile --model LEVEL --n-m n:M` (its default method, refit, and magnitude) keeps the level's weights.
        let pattern = NmPattern::new(n, M).unwrap();
        for method in [PruneMethod::Refit, PruneMethod::Magnitude] {
            let request = CompileRequest {
                model: &model,
                pattern: Some(pattern),
                method,
                calibration: &s.calibration,
                evaluation: &s.reference.sentences,
                options: default_quant_options(),
            };
            let compiled = compile_program(&request, &|_| {}).unwrap();
            assert!(
                compiled.pruned == model,
                "{method} changed level {n}'s weights"
            );
        }
        let metrics: serde_json::Value =
            serde_json::from_slice(&level_file(&ckpt, n, METRICS_FILE)).unwrap();
        assert_eq!(metrics["level"], format!("{n}:{M}"));
        assert_eq!(metrics["total_steps"], 12 * (M - n));
        assert!(metrics["accuracy"]["integer"]["spearman"].is_f64());
        assert_eq!(metrics["mask_updates"].as_array().unwrap().len(), 2);
        previous = Some(masks);
    }
}

#[test]
fn a_resumed_run_equals_an_uninterrupted_one() {
    let s = Setup::new();
    let spec = s.spec(Schedule::Idp, 1);
    let whole = s.run("whole", &spec, 1, None);
    let part = s.run("part", &spec, 1, Some(1));
    assert!(part.join(level_dir_name(3, M)).is_dir());
    assert!(!part.join(level_dir_name(2, M)).exists());
    // An interrupted level leaves its working directory behind; resuming removes it.
    std::fs::create_dir(part.join(".level-interrupted")).unwrap();
    std::fs::write(
        part.join(".level-interrupted/model.safetensors"),
        b"partial",
    )
    .unwrap();
    let part = s.run("part", &spec, 1, None);
    assert!(!part.join(".level-interrupted").exists());
    for n in (1..M).rev() {
        for file in ["model.safetensors", MASKS_FILE] {
            assert!(
                level_file(&whole, n, file) == level_file(&part, n, file),
                "level {n}: {file} differs"
            );
        }
    }
    // Extending a finished chain to a lower level trains only the new level.
    let spec2 = s.spec(Schedule::Idp, 1);
    let shorter = s.run("shorter", &spec2, 2, None);
    assert!(!shorter.join(level_dir_name(1, M)).exists());
    let extended = s.run("shorter", &spec2, 1, None);
    assert_eq!(
        level_file(&extended, 1, "model.safetensors"),
        level_file(&whole, 1, "model.safetensors")
    );
}

#[test]
fn one_shot_trains_only_the_target_with_the_whole_budget() {
    let s = Setup::new();
    let spec = s.spec(Schedule::OneShot, 1);
    let ckpt = s.run("oneshot", &spec, 1, None);
    assert!(!ckpt.join(level_dir_name(3, M)).exists());
    let metrics: serde_json::Value =
        serde_json::from_slice(&level_file(&ckpt, 1, METRICS_FILE)).unwrap();
    assert_eq!(metrics["steps"], 12 * (M - 1));
    assert_eq!(metrics["schedule"], "one-shot");
    for mask in level_masks(&ckpt, 1).values() {
        assert!(mask
            .chunks(M)
            .all(|g| g.iter().filter(|&&k| k == 1).count() == 1));
    }
}

#[test]
fn a_checkpoint_of_another_run_is_refused_unless_forced() {
    let s = Setup::new();
    let spec = s.spec(Schedule::Idp, 2);
    let ckpt = s.run("run", &spec, 3, None);
    let err = |spec: &RunSpec, resume: bool| {
        open_checkpoint(&ckpt, spec, resume, false)
            .unwrap_err()
            .to_string()
    };
    assert!(err(&spec, false).contains("pass --resume to continue its run or --force"));
    let mut other = spec.clone();
    other.model_sha256 = "b".repeat(64);
    let e = err(&other, true);
    assert!(
        e.contains("a different model") && e.contains("--force"),
        "{e}"
    );
    let mut other_m = spec.clone();
    other_m.m = 8;
    assert!(err(&other_m, true).contains("M = 4, not 8"));
    let mut other_steps = spec.clone();
    other_steps.steps_per_level = 13;
    assert!(err(&other_steps, true).contains("12 steps per level, not 13"));
    // --force replaces it: the finished level is gone.
    open_checkpoint(&ckpt, &other, true, true).unwrap();
    assert!(!ckpt.join(level_dir_name(3, M)).exists());
    // A directory that is not a run.
    let plain = s.dir.path().join("plain");
    std::fs::create_dir(&plain).unwrap();
    let e = open_checkpoint(&plain, &spec, true, false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("holds no run to resume"), "{e}");
}

#[test]
fn fading_starts_a_level_from_the_previous_levels_model() {
    let model = teacher();
    let data = data(&model);
    let mut student = Student::new(&model, M).unwrap();
    magnitude_masks(&mut student, 2);
    let batch = [0, 1, 2, 3];
    let before = batch_loss(&student, &data, &batch, 1.0).unwrap();
    magnitude_masks_inside(&mut student, 1);
    let pruned = batch_loss(&student, &data, &batch, 1.0).unwrap();
    student.set_fade(1.0);
    let faded_in = batch_loss(&student, &data, &batch, 1.0).unwrap();
    student.set_fade(0.5);
    let half = batch_loss(&student, &data, &batch, 1.0).unwrap();
    assert!(
        (faded_in - before).abs() < 1e-6 * before.max(1e-3),
        "{before} vs {faded_in}"
    );
    assert!(
        before < half && half < pruned,
        "{before} < {half} < {pruned}"
    );
}

/// Every linear's current mask set to the magnitude n:M mask inside its allowed set (the rest to the reserve).
fn magnitude_masks_inside(student: &mut Student, n: usize) {
    for (_, _, lin) in student.linears_mut() {
        let w: Vec<f32> = lin
            .latent()
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let mut current = lin.allowed.clone();
        current.n = n;
        for (g, kg) in w.chunks(M).zip(current.keep.chunks_mut(M)) {
            let mut kept: Vec<usize> = (0..M).filter(|&j| kg[j]).collect();
            kept.sort_by(|&a, &b| g[b].abs().total_cmp(&g[a].abs()));
            kept[n..].iter().for_each(|&j| kg[j] = false);
        }
        lin.set_current(current).unwrap();
    }
}
