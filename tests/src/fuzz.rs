//! Deterministic mutation of test inputs for the fuzzing tests: a seeded generator and the
//! byte-level mutations that trip parsers (bits flipped, values parsers special-case, integers
//! at their extremes, packets cut or padded).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;

static PANICS: AtomicUsize = AtomicUsize::new(0);

/// Counts panics anywhere in the process from now on, then reports each as usual: a panic in
/// a server's task (a session, a handler) ends only that task and would otherwise pass unseen.
pub fn count_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, Ordering::SeqCst);
            previous(info);
        }));
    });
}

/// Panics counted since [`count_panics`] was first called.
pub fn panics() -> usize {
    PANICS.load(Ordering::SeqCst)
}

/// The fuzzing seed: `OCTODB_FUZZ_SEED` when set (to reproduce a failure), else a fixed one.
pub fn seed() -> u64 {
    std::env::var("OCTODB_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x0c70_db5e_ed00_0001)
}

/// splitmix64: small, fast, and the same sequence for the same seed everywhere.
pub struct Rng(pub u64);

impl Rng {
    pub fn word(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.word() % n.max(1) as u64) as usize
    }

    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    /// One of `items`, which must not be empty.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.word() as u8).collect()
    }
}

const BYTES: [u8; 16] = [
    0x00, 0x01, 0x7F, 0x80, 0xFA, 0xFB, 0xFC, 0xFD, 0xFE, 0xFF, b'\'', b'`', b'\\', b';', b'?',
    b'%',
];
const INTS: [u32; 9] = [
    0,
    1,
    0xFF,
    0xFFFF,
    0xFF_FFFF,
    0x7FFF_FFFF,
    0x8000_0000,
    0xFFFF_FFFE,
    0xFFFF_FFFF,
];

/// One to three mutations; byte 0 (the command) is left alone most of the time.
pub fn mutate(rng: &mut Rng, p: &mut Vec<u8>) {
    for _ in 0..1 + rng.below(3) {
        let from = usize::from(!p.is_empty() && !rng.chance(10));
        let at = from + rng.below(p.len().saturating_sub(from) + 1);
        match rng.below(6) {
            0 if at < p.len() => p[at] ^= 1 << rng.below(8),
            1 if at < p.len() => p[at] = *rng.pick(&BYTES),
            2 => p.truncate(at),
            3 => {
                let n = 1 + rng.below(16);
                let insert: Vec<u8> = if rng.chance(50) {
                    (0..n).map(|_| *rng.pick(&BYTES)).collect()
                } else {
                    rng.bytes(n)
                };
                p.splice(at..at, insert);
            }
            4 if at + 4 <= p.len() => {
                p[at..at + 4].copy_from_slice(&rng.pick(&INTS).to_le_bytes());
            }
            _ => {
                let n = 1 + rng.below(64);
                let tail = rng.bytes(n);
                p.extend_from_slice(&tail);
            }
        }
    }
}
