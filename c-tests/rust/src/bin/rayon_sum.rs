//! rayon: a parallel sum and sort on a 4-thread pool (idle workers wait in futexes).

use greenshim_rust_tests::*;
use rayon::prelude::*;

fn main() {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(4).build().unwrap();
    let (sum, sorted_ok, squares) = pool.install(|| {
        let sum: u64 = (0..5_000_000u64).into_par_iter().map(|x| x % 1000).sum();
        let mut v: Vec<u64> = (0..200_000u64).map(|i| i * 7919 % 200_003).collect();
        v.par_sort();
        let ok = v.windows(2).all(|w| w[0] <= w[1]);
        let squares: u64 = (1..=10_000u64).collect::<Vec<_>>().par_iter().map(|x| x * x).sum();
        (sum, ok, squares)
    });
    sample_os_threads();
    let (a, b) = rayon::join(|| (1..=1000u64).product::<u64>() % 1_000_007 + 1, || (1..=1000u64).sum::<u64>());
    println!("par sum {sum}, sorted {sorted_ok}, squares {squares}, join ({a}, {b})");
    report_os_threads();
}
