//! Seeded, stateless pseudo-randomness: a hash of (seed, stream, index), so any node's jitter can
//! be computed in any order, on any thread, with the same result.

/// A well-mixed 64-bit hash of the three values (SplitMix64 finaliser, applied in turn).
pub(crate) fn hash(seed: u64, stream: u64, index: u64) -> u64 {
    let mut x = mix(seed ^ 0x9e37_79b9_7f4a_7c15);
    x = mix(x ^ stream.wrapping_mul(0xbf58_476d_1ce4_e5b9));
    mix(x ^ index.wrapping_mul(0x94d0_49bb_1331_11eb))
}

/// A value in `[-1, 1)` from the hash of (seed, stream, index).
pub(crate) fn signed_unit(seed: u64, stream: u64, index: u64) -> f32 {
    let bits = hash(seed, stream, index) >> 40;
    (bits as f32 / (1u64 << 23) as f32) - 1.0
}

/// A point in the cube `[-1, 1)³`.
pub(crate) fn cube_point(seed: u64, stream: u64, index: u64) -> [f32; 3] {
    [
        signed_unit(seed, stream * 3, index),
        signed_unit(seed, stream * 3 + 1, index),
        signed_unit(seed, stream * 3 + 2, index),
    ]
}

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
