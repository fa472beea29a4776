//! `cargo xtask convergence [SEEDS] [SIZES]`: how long one new item takes to reach every member
//! of a group, and what it costs, for N = 2, 10, 100 and 1,000 simulated members (random graph
//! of 5 to 8 neighbours each, 20 ms links, 1 % loss; see `crates/sim/src/convergence.rs`).
//!
//! Runs the simulator in release (`cargo run -p peergroup-sim --release -- convergence`),
//! prints a markdown table (for `docs/PERFORMANCE.md`) and writes `docs/convergence.svg`, a
//! line plot drawn by hand (no plotting dependency).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::util::{Result, cmd, output, root};

/// One run's figures: time (ms, `None` if the flood alone did not reach everyone), messages,
/// pushes and duplicates per member; for the first item (cold) and an item after ten (warm).
#[derive(Clone, Copy, Debug)]
struct Spread {
    time_ms: Option<f64>,
    messages: f64,
    pushes: f64,
    duplicates: f64,
}

#[derive(Default, Debug)]
struct Runs {
    cold: Vec<Spread>,
    warm: Vec<Spread>,
}

fn parse(text: &str) -> Result<BTreeMap<u32, Runs>> {
    let mut by_n: BTreeMap<u32, Runs> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() != 10 {
            return Err(format!("convergence: unexpected line from the simulator: {line}"));
        }
        let num = |s: &str| s.parse::<f64>().map_err(|_| format!("convergence: not a number: {s}"));
        let spread = |f: &[&str]| -> Result<Spread> {
            let time_ms = if f[0] == "-" { None } else { Some(num(f[0])? / 1000.0) };
            Ok(Spread { time_ms, messages: num(f[1])?, pushes: num(f[2])?, duplicates: num(f[3])? })
        };
        let n = f[0].parse().map_err(|_| format!("convergence: not a size: {}", f[0]))?;
        let runs = by_n.entry(n).or_default();
        runs.cold.push(spread(&f[2..6])?);
        runs.warm.push(spread(&f[6..10])?);
    }
    Ok(by_n)
}

struct Summary {
    median_ms: f64,
    max_ms: f64,
    messages: f64,
    pushes: f64,
    duplicates: f64,
    unreached: usize,
    runs: usize,
}

fn summarize(spreads: &[Spread]) -> Summary {
    let mut times: Vec<f64> = spreads.iter().filter_map(|s| s.time_ms).collect();
    times.sort_by(f64::total_cmp);
    let median_ms = match times.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => times[n / 2],
        n => (times[n / 2 - 1] + times[n / 2]) / 2.0,
    };
    let mean = |f: fn(&Spread) -> f64| spreads.iter().map(f).sum::<f64>() / spreads.len().max(1) as f64;
    Summary {
        median_ms,
        max_ms: times.last().copied().unwrap_or(f64::NAN),
        messages: mean(|s| s.messages),
        pushes: mean(|s| s.pushes),
        duplicates: mean(|s| s.duplicates),
        unreached: spreads.len() - times.len(),
        runs: spreads.len(),
    }
}

fn table(by_n: &BTreeMap<u32, (Summary, Summary)>) -> String {
    let mut t = String::from(
        "| N | item | runs | time to all, median | max | messages / member | of which pushes | duplicates / member | not reached by the flood |\n\
         |---:|---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for (n, (cold, warm)) in by_n {
        for (label, s) in [("first (all links eager)", cold), ("after 10 (tree formed)", warm)] {
            let _ = writeln!(
                t,
                "| {n} | {label} | {} | {:.1} ms | {:.1} ms | {:.2} | {:.2} | {:.2} | {} |",
                s.runs, s.median_ms, s.max_ms, s.messages, s.pushes, s.duplicates, s.unreached
            );
        }
    }
    t
}

/// One line of the plot: its label, its colour and the value it draws for each N.
type Series = (&'static str, &'static str, fn(&(Summary, Summary)) -> f64);

/// A line plot of time to reach every member against N (log scale).
fn svg(by_n: &BTreeMap<u32, (Summary, Summary)>) -> String {
    let (w, h, left, right, top, bottom) = (640.0, 400.0, 70.0, 20.0, 40.0, 60.0);
    let ns: Vec<f64> = by_n.keys().map(|&n| f64::from(n)).collect();
    let (lo, hi) = (ns.first().copied().unwrap_or(1.0).log10(), ns.last().copied().unwrap_or(10.0).log10());
    let series: [Series; 4] = [
        ("after 10, median", "#1f77b4", |s| s.1.median_ms),
        ("after 10, max", "#1f77b4", |s| s.1.max_ms),
        ("first, median", "#d62728", |s| s.0.median_ms),
        ("first, max", "#d62728", |s| s.0.max_ms),
    ];
    let ymax_data = by_n
        .values()
        .flat_map(|s| series.iter().map(move |(_, _, f)| f(s)))
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    let step =
        [10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0].into_iter().find(|s| ymax_data / s <= 8.0).unwrap_or(2000.0);
    let ymax = (ymax_data / step).ceil().max(1.0) * step;
    let x = |n: f64| left + (n.log10() - lo) / (hi - lo).max(1e-9) * (w - left - right);
    let y = |v: f64| h - bottom - v / ymax * (h - top - bottom);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="14">One new item: time until every member has it (20 ms links, 1 % loss)</text>"#,
        w / 2.0
    );
    let mut v = 0.0;
    while v <= ymax + 1e-9 {
        let yy = y(v);
        let _ = writeln!(s, r##"<line x1="{left}" y1="{yy:.1}" x2="{}" y2="{yy:.1}" stroke="#ddd"/>"##, w - right);
        let _ = writeln!(s, r#"<text x="{}" y="{:.1}" text-anchor="end">{v}</text>"#, left - 6.0, yy + 4.0);
        v += step;
    }
    for &n in &ns {
        let xx = x(n);
        let _ = writeln!(s, r##"<line x1="{xx:.1}" y1="{top}" x2="{xx:.1}" y2="{}" stroke="#ddd"/>"##, h - bottom);
        let _ = writeln!(s, r#"<text x="{xx:.1}" y="{}" text-anchor="middle">{n}</text>"#, h - bottom + 18.0);
    }
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">members (N, log scale)</text>"#,
        (left + w - right) / 2.0,
        h - 18.0
    );
    let _ = writeln!(
        s,
        r#"<text x="18" y="{}" text-anchor="middle" transform="rotate(-90 18 {})">ms</text>"#,
        (top + h - bottom) / 2.0,
        (top + h - bottom) / 2.0
    );
    for (i, (label, colour, f)) in series.iter().enumerate() {
        let dash = if i % 2 == 1 { r#" stroke-dasharray="6 4""# } else { "" };
        let points: Vec<String> = by_n
            .iter()
            .filter(|(_, sm)| f(sm).is_finite())
            .map(|(&n, sm)| format!("{:.1},{:.1}", x(f64::from(n)), y(f(sm))))
            .collect();
        let _ = writeln!(
            s,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="2"{dash} points="{}"/>"#,
            points.join(" ")
        );
        for p in &points {
            let (px, py) = p.split_once(',').unwrap_or(("0", "0"));
            let _ = writeln!(s, r#"<circle cx="{px}" cy="{py}" r="3" fill="{colour}"/>"#);
        }
        let ly = top + 14.0 + 16.0 * i as f64;
        let _ = writeln!(
            s,
            r#"<line x1="{}" y1="{ly}" x2="{}" y2="{ly}" stroke="{colour}" stroke-width="2"{dash}/>"#,
            left + 10.0,
            left + 34.0
        );
        let _ = writeln!(s, r#"<text x="{}" y="{}">{label}</text>"#, left + 40.0, ly + 4.0);
    }
    s.push_str("</svg>\n");
    s
}

/// `cargo xtask convergence [SEEDS] [SIZES]`.
pub fn command(args: &[String]) -> Result {
    let seeds = args.first().map_or("20", String::as_str);
    let sizes = args.get(1).map_or("2,10,100,1000", String::as_str);
    println!("running the simulator in release: {seeds} runs for each N in {sizes}");
    let text = output(cmd(
        "cargo",
        &["run", "--quiet", "--release", "-p", "peergroup-sim", "--", "convergence", seeds, sizes],
    ))?;
    let by_n: BTreeMap<u32, (Summary, Summary)> =
        parse(&text)?.into_iter().map(|(n, r)| (n, (summarize(&r.cold), summarize(&r.warm)))).collect();
    print!("{}", table(&by_n));
    let path = root().join("docs/convergence.svg");
    std::fs::write(&path, svg(&by_n)).map_err(|e| format!("write {}: {e}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_and_plot_come_from_the_simulator_lines() {
        let text = "# header\n2\t0\t20000\t1.0\t0.5\t0.0\t21000\t1.5\t0.5\t0.5\n\
                    2\t1\t-\t1.0\t0.5\t0.0\t23000\t1.5\t0.5\t0.5\n\
                    10\t0\t60000\t3\t2\t1\t60000\t1\t1\t0\n";
        let by_n: BTreeMap<u32, (Summary, Summary)> =
            parse(text).unwrap().into_iter().map(|(n, r)| (n, (summarize(&r.cold), summarize(&r.warm)))).collect();
        let t = table(&by_n);
        assert!(t.contains("| 2 | after 10 (tree formed) | 2 | 22.0 ms | 23.0 ms | 1.50 | 0.50 | 0.50 | 0 |"), "{t}");
        assert!(t.contains("| 2 | first (all links eager) | 2 | 20.0 ms | 20.0 ms | 1.00 | 0.50 | 0.00 | 1 |"), "{t}");
        let plot = svg(&by_n);
        assert!(plot.starts_with("<svg") && plot.ends_with("</svg>\n"));
        assert_eq!(plot.matches("<polyline").count(), 4);
        assert!(parse("2\t0\tx").is_err());
    }
}
