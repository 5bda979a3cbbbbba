//! The path diagram both pages draw: columns of boxes left to right (one column per stage of
//! the packet path), joined by a wire with arrowheads, as one inline SVG. Laid out here from
//! plain data so the pages only say what is in each box.

use std::fmt::Write as _;

use crate::html::{clip, esc};

/// One box of the diagram.
#[derive(Debug, Clone, Default)]
pub struct Cell {
    /// Element class after `kind` (a colour class: `hop-replies`, `st-fail`, ...).
    pub class: String,
    /// `hop` for capture points, `stage` for derived steps (ARP, kube-proxy, objects).
    pub kind: &'static str,
    /// `id` attribute (ours: ASCII, no quoting needed but escaped anyway).
    pub id: String,
    /// Extra `data-*` attributes (name without `data-`, value untrusted).
    pub data: Vec<(&'static str, String)>,
    /// First line, bold.
    pub title: String,
    /// Further lines (clipped to the box).
    pub lines: Vec<String>,
    /// Tooltip: the full, unclipped text.
    pub tip: String,
    /// The verdict's hop: drawn with a thick red outline and a label under it.
    pub failing: bool,
}

/// One stage of the path.
#[derive(Debug, Clone)]
pub struct Column {
    pub title: String,
    pub cells: Vec<Cell>,
}

const BOX_W: u32 = 180;
const GAP: u32 = 38;
const LINE_H: u32 = 16;
const PAD: u32 = 10;
const TOP: u32 = 34;
const V_GAP: u32 = 34;
/// Characters that fit one line of a box at 12px.
const LINE_CHARS: usize = 24;

fn box_h(c: &Cell) -> u32 {
    PAD * 2 + LINE_H * (1 + c.lines.len() as u32)
}

/// Render columns (empty ones are skipped) as an `<svg>` element.
pub fn diagram(out: &mut String, label: &str, cols: &[Column]) {
    let cols: Vec<&Column> = cols.iter().filter(|c| !c.cells.is_empty()).collect();
    let n = cols.len() as u32;
    let width = (n * BOX_W + n.saturating_sub(1) * GAP + 20).max(200);
    // Each column's boxes stacked; the tallest column sets the height.
    let col_h = |c: &Column| -> u32 {
        c.cells
            .iter()
            .map(|x| box_h(x) + if x.failing { 22 } else { 0 })
            .sum::<u32>()
            + V_GAP * (c.cells.len() as u32).saturating_sub(1)
    };
    let inner = cols.iter().map(|c| col_h(c)).max().unwrap_or(0);
    let height = TOP + inner + 16;
    let _ = writeln!(
        out,
        "<svg viewBox=\"0 0 {width} {height}\" width=\"{width}\" height=\"{height}\" role=\"img\" aria-label=\"{}\">",
        esc(label)
    );
    out.push_str(
        "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"7\" \
         markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" \
         fill=\"#8a8a8a\"/></marker></defs>\n",
    );
    // Box positions: (x, y, h) per cell, columns vertically centred.
    let mut pos: Vec<Vec<(u32, u32, u32)>> = Vec::new();
    for (i, c) in cols.iter().enumerate() {
        let x = 10 + i as u32 * (BOX_W + GAP);
        let mut y = TOP + (inner - col_h(c)) / 2;
        let mut v = Vec::new();
        for cell in &c.cells {
            let h = box_h(cell);
            v.push((x, y, h));
            y += h + V_GAP + if cell.failing { 22 } else { 0 };
        }
        pos.push(v);
    }
    // Wires: each box of a column to a bus half-way, the bus to each box of the next.
    for i in 1..pos.len() {
        let (from, to) = (&pos[i - 1], &pos[i]);
        let (Some(&(fx, _, _)), Some(&(tx, _, _))) = (from.first(), to.first()) else {
            continue;
        };
        let (right, mid) = (fx + BOX_W, fx + BOX_W + GAP / 2);
        let cys: Vec<u32> = from
            .iter()
            .chain(to.iter())
            .map(|&(_, y, h)| y + h / 2)
            .collect();
        let (lo, hi) = (
            cys.iter().copied().min().unwrap_or(0),
            cys.iter().copied().max().unwrap_or(0),
        );
        for &(_, y, h) in from {
            let _ = writeln!(
                out,
                "<path class=\"wire\" d=\"M{right},{} H{mid}\"/>",
                y + h / 2
            );
        }
        if hi > lo {
            let _ = writeln!(out, "<path class=\"wire\" d=\"M{mid},{lo} V{hi}\"/>");
        }
        for &(_, y, h) in to {
            let _ = writeln!(
                out,
                "<path class=\"wire\" d=\"M{mid},{} H{}\" marker-end=\"url(#arrow)\"/>",
                y + h / 2,
                tx - 1
            );
        }
    }
    for (i, c) in cols.iter().enumerate() {
        let x = 10 + i as u32 * (BOX_W + GAP);
        let _ = writeln!(
            out,
            "<text class=\"col\" x=\"{}\" y=\"18\" text-anchor=\"middle\">{}</text>",
            x + BOX_W / 2,
            esc(&clip(&c.title, LINE_CHARS))
        );
        for (cell, &(x, y, h)) in c.cells.iter().zip(&pos[i]) {
            cell_svg(out, cell, x, y, h);
        }
    }
    out.push_str("</svg>\n");
}

fn cell_svg(out: &mut String, c: &Cell, x: u32, y: u32, h: u32) {
    let _ = write!(
        out,
        "<g class=\"{} {}{}\" id=\"{}\"",
        c.kind,
        esc(&c.class),
        if c.failing { " failing" } else { "" },
        esc(&c.id)
    );
    for (k, v) in &c.data {
        let _ = write!(out, " data-{k}=\"{}\"", esc(v));
    }
    if c.failing {
        out.push_str(" data-failing=\"true\"");
    }
    let _ = writeln!(out, "><title>{}</title>", esc(&c.tip));
    let _ = writeln!(
        out,
        "<rect class=\"box\" x=\"{x}\" y=\"{y}\" width=\"{BOX_W}\" height=\"{h}\" rx=\"7\"/>"
    );
    let tx = x + 9;
    let mut ty = y + PAD + 12;
    let _ = writeln!(
        out,
        "<text class=\"t\" x=\"{tx}\" y=\"{ty}\">{}</text>",
        esc(&clip(&c.title, LINE_CHARS - 2))
    );
    for l in &c.lines {
        ty += LINE_H;
        let _ = writeln!(
            out,
            "<text x=\"{tx}\" y=\"{ty}\">{}</text>",
            esc(&clip(l, LINE_CHARS))
        );
    }
    if c.failing {
        let _ = writeln!(
            out,
            "<text class=\"dies\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">✘ verdict here</text>",
            x + BOX_W / 2,
            y + h + 17
        );
    }
    out.push_str("</g>\n");
}
