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
    /// Branch of the path after it forks (one lane per endpoint node): a laned box is wired
    /// from the boxes of its own lane in an earlier column, or from the last column without
    /// lanes (where the path forked). None: wired from every box of the previous column.
    pub lane: Option<u32>,
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

fn cell_h(c: &Cell) -> u32 {
    box_h(c) + if c.failing { 22 } else { 0 }
}

/// Height of boxes stacked with gaps.
fn stack_h<'a>(cells: impl Iterator<Item = &'a Cell>) -> u32 {
    let (sum, n) = cells.fold((0, 0), |(s, n), c| (s + cell_h(c), n + 1));
    sum + V_GAP * (n as u32).saturating_sub(1)
}

/// A placed box: x, y, height and lane.
#[derive(Clone, Copy)]
struct Placed {
    x: u32,
    y: u32,
    h: u32,
    lane: Option<u32>,
}

/// Render columns (empty ones are skipped) as an `<svg>` element.
pub fn diagram(out: &mut String, label: &str, cols: &[Column]) {
    let cols: Vec<&Column> = cols.iter().filter(|c| !c.cells.is_empty()).collect();
    let n = cols.len() as u32;
    let width = (n * BOX_W + n.saturating_sub(1) * GAP + 20).max(200);
    // Lanes: each as tall as its tallest column's stack; unlaned columns are centred.
    let mut lanes: Vec<u32> = cols
        .iter()
        .flat_map(|c| c.cells.iter().filter_map(|x| x.lane))
        .collect();
    lanes.sort_unstable();
    lanes.dedup();
    let lane_h: Vec<u32> = lanes
        .iter()
        .map(|&l| {
            cols.iter()
                .map(|c| stack_h(c.cells.iter().filter(|x| x.lane == Some(l))))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let laned_h = lane_h.iter().sum::<u32>() + V_GAP * (lanes.len() as u32).saturating_sub(1);
    let free_h = |c: &Column| stack_h(c.cells.iter().filter(|x| x.lane.is_none()));
    let inner = cols
        .iter()
        .map(|c| free_h(c))
        .chain([laned_h])
        .max()
        .unwrap_or(0);
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
    // Place every box.
    let lanes_top = TOP + (inner - laned_h) / 2;
    let mut placed: Vec<Vec<Placed>> = Vec::new();
    for (i, c) in cols.iter().enumerate() {
        let x = 10 + i as u32 * (BOX_W + GAP);
        let mut free_y = TOP + (inner - free_h(c)) / 2;
        let mut lane_y: Vec<u32> = Vec::new();
        let mut top = lanes_top;
        for (k, &l) in lanes.iter().enumerate() {
            let own = stack_h(c.cells.iter().filter(|x| x.lane == Some(l)));
            lane_y.push(top + (lane_h[k] - own) / 2);
            top += lane_h[k] + V_GAP;
        }
        let mut v = Vec::new();
        for cell in &c.cells {
            let y = match cell.lane.and_then(|l| lanes.iter().position(|&x| x == l)) {
                Some(k) => {
                    let y = lane_y[k];
                    lane_y[k] += cell_h(cell) + V_GAP;
                    y
                }
                None => {
                    let y = free_y;
                    free_y += cell_h(cell) + V_GAP;
                    y
                }
            };
            v.push(Placed {
                x,
                y,
                h: box_h(cell),
                lane: cell.lane,
            });
        }
        placed.push(v);
    }
    // Wires, each from a predecessor's right edge, turning half-way into the gap after it.
    for i in 1..placed.len() {
        for to in &placed[i] {
            let preds: Vec<Placed> = match to.lane {
                None => placed[i - 1].clone(),
                Some(l) => (0..i)
                    .rev()
                    .find_map(|j| {
                        let same: Vec<Placed> = placed[j]
                            .iter()
                            .filter(|p| p.lane == Some(l))
                            .copied()
                            .collect();
                        if !same.is_empty() {
                            Some(same)
                        } else if placed[j].iter().all(|p| p.lane.is_none()) {
                            Some(placed[j].clone())
                        } else {
                            None
                        }
                    })
                    .unwrap_or_default(),
            };
            for p in preds {
                let elbow = p.x + BOX_W + GAP / 2;
                let _ = writeln!(
                    out,
                    "<path class=\"wire\" d=\"M{},{} H{elbow} V{} H{}\" marker-end=\"url(#arrow)\"/>",
                    p.x + BOX_W,
                    p.y + p.h / 2,
                    to.y + to.h / 2,
                    to.x - 1
                );
            }
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
        for (cell, p) in c.cells.iter().zip(&placed[i]) {
            cell_svg(out, cell, p.x, p.y, p.h);
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
