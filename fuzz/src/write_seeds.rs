//! `write_seeds DIR`: writes the seed corpora under DIR (normally fuzz/corpus); see
//! `otedama_fuzz::seeds`.
fn main() {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "fuzz/corpus".into());
    otedama_fuzz::seeds::write_all(std::path::Path::new(&dir));
}
