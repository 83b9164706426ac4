//! Showing a rollout's progress: one progress bar per wave (finished of total, with the counts
//! of done, failed, restored and conflict), redrawn in place on a terminal; on anything else
//! (a pipe, a log file, CI) plain lines, one each time a wave's counts or the rollout's state
//! change, so the output reads as a history.

use std::collections::BTreeMap;
use std::io::IsTerminal;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;

/// A wave's counts, as `GET /v1/rollouts/{id}` gives them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WaveCounts {
    pub wave: u64,
    pub total: u64,
    pub done: u64,
    pub failed: u64,
    pub restored: u64,
    pub conflict: u64,
    pub skipped: u64,
    pub cancelled: u64,
    pub running: u64,
    pub pending: u64,
}

impl WaveCounts {
    pub fn from_json(v: &Value) -> WaveCounts {
        let n = |k: &str| v[k].as_u64().unwrap_or(0);
        WaveCounts {
            wave: n("wave"),
            total: n("total"),
            done: n("done"),
            failed: n("failed"),
            restored: n("restored"),
            conflict: n("conflict"),
            skipped: n("skipped"),
            cancelled: n("cancelled"),
            running: n("running"),
            pending: n("pending"),
        }
    }

    /// Databases whose outcome is known.
    pub fn finished(&self) -> u64 {
        self.total
            .saturating_sub(self.running)
            .saturating_sub(self.pending)
    }

    fn label(&self) -> String {
        if self.wave == 0 {
            "wave 0 (canary)".to_string()
        } else {
            format!("wave {}", self.wave)
        }
    }

    fn counts(&self) -> String {
        let mut s = format!(
            "done {}, failed {}, restored {}, conflict {}",
            self.done, self.failed, self.restored, self.conflict
        );
        for (name, n) in [
            ("skipped", self.skipped),
            ("cancelled", self.cancelled),
            ("running", self.running),
        ] {
            if n > 0 {
                s.push_str(&format!(", {name} {n}"));
            }
        }
        s
    }

    /// The plain-line form: `wave 1: 3/4 finished (done 3, failed 0, restored 0, conflict 0)`.
    pub fn line(&self) -> String {
        format!(
            "{}: {}/{} finished ({})",
            self.label(),
            self.finished(),
            self.total,
            self.counts()
        )
    }
}

/// The waves of a rollout document.
pub fn waves(rollout: &Value) -> Vec<WaveCounts> {
    rollout["waves"]
        .as_array()
        .into_iter()
        .flatten()
        .map(WaveCounts::from_json)
        .collect()
}

/// Where progress goes.
pub enum Progress {
    Bars {
        multi: MultiProgress,
        bars: BTreeMap<u64, ProgressBar>,
        status: ProgressBar,
        /// The last state shown, printed as lines when the bars go away.
        last: Vec<String>,
    },
    Lines {
        last: BTreeMap<u64, String>,
        last_status: String,
    },
}

impl Progress {
    /// Bars when stdout is a terminal, lines otherwise.
    pub fn for_stdout() -> Progress {
        if std::io::stdout().is_terminal() {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stdout());
            let status = multi.add(ProgressBar::new_spinner());
            Progress::Bars {
                multi,
                bars: BTreeMap::new(),
                status,
                last: Vec::new(),
            }
        } else {
            Progress::lines()
        }
    }

    /// Plain lines, whatever stdout is.
    pub fn lines() -> Progress {
        Progress::Lines {
            last: BTreeMap::new(),
            last_status: String::new(),
        }
    }

    /// Shows the rollout's state line (`rollout 7: running, wave 1`) and every wave.
    pub fn update(&mut self, status_line: &str, waves: &[WaveCounts]) {
        match self {
            Progress::Bars {
                multi,
                bars,
                status,
                last,
            } => {
                *last = std::iter::once(status_line.to_string())
                    .chain(waves.iter().map(WaveCounts::line))
                    .collect();
                status.set_message(status_line.to_string());
                status.tick();
                for w in waves {
                    let bar = bars.entry(w.wave).or_insert_with(|| {
                        let bar = multi.add(ProgressBar::new(w.total));
                        if let Ok(style) = ProgressStyle::with_template(
                            "{prefix:>16} [{bar:30.cyan/blue}] {pos}/{len} {msg}",
                        ) {
                            bar.set_style(style.progress_chars("=> "));
                        }
                        bar.set_prefix(w.label());
                        bar
                    });
                    bar.set_length(w.total);
                    bar.set_position(w.finished());
                    bar.set_message(w.counts());
                }
            }
            Progress::Lines { last, last_status } => {
                if status_line != last_status {
                    println!("{status_line}");
                    *last_status = status_line.to_string();
                }
                for w in waves {
                    let line = w.line();
                    if last.get(&w.wave) != Some(&line) {
                        println!("{line}");
                        last.insert(w.wave, line);
                    }
                }
            }
        }
    }

    /// Replaces the bars with the final state as lines, so what follows starts on a line of
    /// its own and the terminal keeps a record (lines need nothing).
    pub fn finish(&self) {
        if let Progress::Bars {
            bars, status, last, ..
        } = self
        {
            for bar in bars.values() {
                bar.finish_and_clear();
            }
            status.finish_and_clear();
            for line in last {
                println!("{line}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wave_lines_count_finished_databases() {
        let w = WaveCounts::from_json(&json!({
            "wave": 1, "total": 4, "done": 2, "failed": 1, "running": 1, "pending": 0
        }));
        assert_eq!(w.finished(), 3);
        assert_eq!(
            w.line(),
            "wave 1: 3/4 finished (done 2, failed 1, restored 0, conflict 0, running 1)"
        );
        let canary = WaveCounts::from_json(&json!({"wave": 0, "total": 1, "done": 1}));
        assert_eq!(
            canary.line(),
            "wave 0 (canary): 1/1 finished (done 1, failed 0, restored 0, conflict 0)"
        );
    }
}
