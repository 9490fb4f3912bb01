//! Bad input must give errors, never panics: mutate a realistic Dockerfile
//! deterministically and push each variant through every stage.

use berth_build::evaluate::{evaluate, resolve_global_args, EvalOptions};
use berth_build::parse_dockerfile;
use berth_build::plan::plan;

const SAMPLE: &str = "# syntax=docker/dockerfile:1\n# escape=\\\nARG BASE=alpine:3.19\nFROM ${BASE} AS build\nENV A=1 B=\"two words\" \\\n    C=${A:-x}\nRUN --mount=type=cache,target=/c,id=${A} <<EOF\necho \"$A\" '${B}'\nEOF\nCOPY --from=0 --chown=1:1 [\"a b\", \"/dst/\"]\nHEALTHCHECK --interval=5s CMD [\"true\"]\nONBUILD ADD <<-X /f\n\tbody\n\tX\nFROM build\nLABEL x=${PATH%%:*} y=${PATH/a/b}\nEXPOSE 80/tcp $P\nCOPY --from=build /a /b\n";

const PIECES: &[&str] = &["\\", "`", "\"", "'", "$", "${", "}", "[", "]", "<<", "<<-", "\n", "#", "--", "=", " ", "\t", "\r\n", "é", "\u{feff}", ":", "/", "..", "*", "FROM", "AS"];

#[test]
fn mutated_dockerfiles_never_panic() {
    let mut seed: u64 = 0x9e3779b97f4a7c15;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let chars: Vec<char> = SAMPLE.chars().collect();
    for _ in 0..3000 {
        let mut text: Vec<char> = chars.clone();
        for _ in 0..(next() % 6 + 1) {
            let pos = (next() as usize) % (text.len() + 1);
            match next() % 3 {
                0 if pos < text.len() => {
                    text.remove(pos);
                }
                _ => {
                    let piece = PIECES[(next() as usize) % PIECES.len()];
                    for (i, c) in piece.chars().enumerate() {
                        text.insert(pos + i, c);
                    }
                }
            }
        }
        let text: String = text.into_iter().collect();
        let Ok(df) = parse_dockerfile(&text) else { continue };
        let opts = EvalOptions::default();
        let Ok(globals) = resolve_global_args(&df, &opts) else { continue };
        if let Ok(p) = plan(&df, &globals, None) {
            let _ = evaluate(&df, &opts, Some(&p.needed));
        }
    }
}
