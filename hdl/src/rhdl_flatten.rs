//! Turns rust-hdl's Verilog for a control block into one clean, lint-free module.
//!
//! rust-hdl emits every `DFF` child as a module of its own (`top$busy`, `top$count`, …) instantiated once, names
//! signals with `$`, calls the top `top`, and gives registers `initial` values instead of a reset. For a block whose
//! only children are DFFs (the kind of block we write in rust-hdl: control logic), all of that folds back into one
//! module: each DFF becomes one line `x_q <= x_d;` in a single `always @(posedge clk)`, `$` becomes `_`, and the
//! module gets its real name. The reset is the block's own synchronous `rst` logic, written in its `update()`.

use std::fmt::Write as _;

use rust_hdl::prelude::*;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlattenError(pub String);

impl std::fmt::Display for FlattenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot flatten rust-hdl output: {}", self.0)
    }
}

impl std::error::Error for FlattenError {}

/// Elaborates `block` with rust-hdl and returns the flattened module body (from `module` to `endmodule`).
pub fn flatten_block<B: Block>(
    mut block: B,
    module_name: &str,
    clock: &str,
) -> Result<String, FlattenError> {
    block.connect_all();
    flatten_text(&generate_verilog(&block), module_name, clock)
}

/// The text-level transformation behind [`flatten_block`], separate so it can be tested on fixed input.
pub fn flatten_text(verilog: &str, module_name: &str, clock: &str) -> Result<String, FlattenError> {
    let top = module_section(verilog, "top")
        .ok_or_else(|| FlattenError("no `module top` found".into()))?;
    let children = child_module_names(verilog);
    for child in &children {
        let body = module_section(verilog, &format!("top${child}"))
            .ok_or_else(|| FlattenError(format!("child module top${child} missing")))?;
        if !body.contains("q <= d;") {
            return Err(FlattenError(format!(
                "child `{child}` is not a DFF; only DFF children can be flattened"
            )));
        }
    }
    let mut out = String::new();
    let mut lines = top.lines().peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim();
        if let Some(child) = instance_of(trimmed, &children) {
            // skip the instance and its port connections, up to the closing `);`
            let _ = child;
            for inner in lines.by_ref() {
                if inner.trim() == ");" {
                    break;
                }
            }
            continue;
        }
        if trimmed == "// Sub module instances" || is_child_clock_line(trimmed, &children) {
            continue;
        }
        if trimmed.starts_with("endmodule") {
            out.push_str(&register_block(&children, clock));
            out.push_str("endmodule\n");
            break;
        }
        let line = promote_q_to_reg(line, &children);
        let line = line.replace("module top(", &format!("module {module_name}("));
        out.push_str(&line);
        out.push('\n');
    }
    Ok(tidy(&relabel_sections(&out.replace('$', "_"))))
}

/// rust-hdl's section comments, renamed for readers who never saw the rust-hdl source.
fn relabel_sections(text: &str) -> String {
    [
        ("// Module arguments", "// Ports"),
        ("// Constant declarations", "// Constants"),
        (
            "// Stub signals",
            "// Registers: next value (*_d) and current value (*_q)",
        ),
        ("// Local signals", "// Internal signals"),
        (
            "// Update code",
            "// Next-state and output logic (rust-hdl update(), hdl/src/array_ctrl.rs)",
        ),
    ]
    .iter()
    .fold(text.to_string(), |acc, (from, to)| acc.replace(from, to))
}

/// Text of `module <name>(` … `endmodule // <name>`.
fn module_section<'a>(verilog: &'a str, name: &str) -> Option<&'a str> {
    let start = verilog.find(&format!("module {name}("))?;
    let end_marker = format!("endmodule // {name}");
    let end = verilog[start..].find(&end_marker)? + start + end_marker.len();
    Some(&verilog[start..end])
}

fn child_module_names(verilog: &str) -> Vec<String> {
    verilog
        .lines()
        .filter_map(|l| l.strip_prefix("module top$"))
        .filter_map(|rest| rest.split('(').next())
        .map(str::to_string)
        .collect()
}

fn instance_of<'a>(trimmed: &str, children: &'a [String]) -> Option<&'a String> {
    children.iter().find(|c| trimmed == format!("top${c} {c}("))
}

/// `reg x$clock;` declarations and `x$clock = clk;` assignments only fed the DFF instances.
fn is_child_clock_line(trimmed: &str, children: &[String]) -> bool {
    children.iter().any(|c| {
        trimmed == format!("reg  {c}$clock;") || trimmed.starts_with(&format!("{c}$clock = "))
    })
}

/// A DFF's output `wire x$q` becomes the register itself.
fn promote_q_to_reg(line: &str, children: &[String]) -> String {
    let trimmed = line.trim_start();
    if let Some(rest) = trimmed.strip_prefix("wire ") {
        if children
            .iter()
            .any(|c| rest.trim_end().ends_with(&format!(" {c}$q;")))
        {
            let indent = &line[..line.len() - trimmed.len()];
            return format!("{indent}reg {rest}");
        }
    }
    line.to_string()
}

fn register_block(children: &[String], clock: &str) -> String {
    let mut text = String::from(
        "    // Registers: every rust-hdl DFF of this block, flattened into one process\n",
    );
    let _ = writeln!(text, "    always @(posedge {clock}) begin");
    for c in children {
        let _ = writeln!(text, "        {c}$q <= {c}$d;");
    }
    text.push_str("    end\n\n");
    text
}

/// Collapses runs of blank lines and drops trailing spaces, so the output reads like hand-written Verilog.
fn tidy(text: &str) -> String {
    let mut out = String::new();
    let mut blank = 0;
    for line in text.lines() {
        let line = line.trim_end();
        if line.is_empty() {
            blank += 1;
            if blank > 1 {
                continue;
            }
        } else {
            blank = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    out.trim().to_string() + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::array_ctrl::ArrayCtrl;

    #[test]
    fn controller_flattens_into_one_clean_module() {
        let text = flatten_block(ArrayCtrl::new(16, 1), "sta_array_ctrl_r16", "clk").unwrap();
        assert_eq!(text.lines().filter(|l| l.starts_with("module ")).count(), 1);
        assert!(text.starts_with("module sta_array_ctrl_r16("));
        assert!(!text.contains('$'), "no rust-hdl instance names");
        assert!(!text.contains("initial"), "reset, not initial values");
        assert!(!text.contains("32'h"), "no unsized 32-bit literals");
        assert_eq!(text.matches("always @(posedge clk)").count(), 1);
        assert!(text.contains("drain_count_q <= drain_count_d;"));
        assert!(text.contains("localparam  rows = 7'b10000;"));
    }

    #[test]
    fn refuses_children_that_are_not_dffs() {
        let verilog = "module top(a);\n    top$x x(\n    );\nendmodule // top\n\nmodule top$x(q);\n    assign q = 1;\nendmodule // top$x\n";
        let err = flatten_text(verilog, "m", "clk").unwrap_err();
        assert!(err.to_string().contains("not a DFF"), "{err}");
    }

    #[test]
    fn reports_missing_top() {
        assert!(flatten_text("module other(a);\nendmodule // other\n", "m", "clk").is_err());
    }
}
