//! `cargo xtask bench`: criterion, then OpenSSL's RSA-2048 sign rate on the same machine in the
//! same run, and the ratio the identity issue sets a target for (at least 70 %).

use crate::util::{Result, cmd, output, root, run};

/// The criterion benchmark of a signature with the default provider.
const SIGN_BENCH: &str = "identity_sign/aws-lc-rs";

pub fn command(args: &[String]) -> Result {
    let mut bench = cmd("cargo", &["bench", "-p", "peergroup-benches"]);
    if !args.is_empty() {
        bench.arg("--");
        bench.args(args);
    }
    run("criterion benchmarks", bench)?;
    compare_with_openssl()
}

fn compare_with_openssl() -> Result {
    let Some(ours_ns) = criterion_mean_ns(SIGN_BENCH) else {
        println!("\n(no criterion estimate for {SIGN_BENCH}: run the identity benchmark to compare with OpenSSL)");
        return Ok(());
    };
    let speed = match output(cmd("openssl", &["speed", "-seconds", "3", "rsa2048"])) {
        Ok(out) => out,
        Err(e) => {
            println!("\nOpenSSL comparison skipped: {e}");
            return Ok(());
        }
    };
    let openssl_per_s = parse_openssl_sign_rate(&speed).ok_or("cannot read the sign/s column of openssl speed")?;
    let ours_per_s = 1e9 / ours_ns;
    println!("\nRSA-2048 PKCS#1 v1.5 signing, same machine, same run:");
    println!("  openssl speed rsa2048 : {openssl_per_s:>10.1} sign/s ({:.3} ms)", 1000.0 / openssl_per_s);
    println!("  peergroup (aws-lc-rs) : {ours_per_s:>10.1} sign/s ({:.3} ms)", ours_ns / 1e6);
    println!("  ratio                 : {:>10.1} % of OpenSSL (target: >= 70 %)", 100.0 * ours_per_s / openssl_per_s);
    Ok(())
}

/// The mean of a criterion benchmark in nanoseconds, from `target/criterion/.../new/estimates.json`.
fn criterion_mean_ns(id: &str) -> Option<f64> {
    let path = root().join("target/criterion").join(id).join("new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    json.get("mean")?.get("point_estimate")?.as_f64()
}

/// Reads the sign/s figure from `openssl speed rsa2048`. OpenSSL 3 prints a table whose row
/// starts with `rsa 2048 bits` followed by sign time, verify time, sign/s, verify/s (older
/// versions print the same four numbers; newer ones add encaps/decaps columns after them).
fn parse_openssl_sign_rate(out: &str) -> Option<f64> {
    let row = out.lines().rev().find(|l| l.trim_start().starts_with("rsa 2048") || l.contains("rsa2048"))?;
    let numbers: Vec<f64> = row
        .split_whitespace()
        .filter_map(|w| w.trim_end_matches('s').parse::<f64>().ok())
        .filter(|n| *n != 2048.0)
        .collect();
    // sign time, verify time, sign/s, verify/s
    numbers.get(2).copied()
}

#[cfg(test)]
mod tests {
    use super::parse_openssl_sign_rate;

    #[test]
    fn reads_openssl_3_table() {
        let out = "                   sign    verify    sign/s verify/s\nrsa 2048 bits 0.000270s 0.000008s   3700.2 122000.5\n";
        assert_eq!(parse_openssl_sign_rate(out), Some(3700.2));
    }
}
