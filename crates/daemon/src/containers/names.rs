//! Names for containers created without `--name`: Docker's `adjective_surname` style,
//! and Docker's rule for names a user chooses.

const LEFT: &[&str] = &[
    "admiring", "adoring", "affectionate", "agitated", "amazing", "angry", "awesome", "beautiful", "blissful", "bold",
    "brave", "busy", "charming", "clever", "compassionate", "competent", "confident", "cool", "cranky", "crazy",
    "dazzling", "determined", "distracted", "dreamy", "eager", "ecstatic", "elastic", "elated", "elegant", "epic",
    "exciting", "fervent", "festive", "flamboyant", "focused", "friendly", "frosty", "funny", "gallant", "gifted",
    "goofy", "gracious", "great", "happy", "hardcore", "heuristic", "hopeful", "hungry", "infallible", "inspiring",
    "intelligent", "interesting", "jolly", "jovial", "keen", "kind", "laughing", "loving", "lucid", "magical",
    "modest", "musing", "naughty", "nervous", "nice", "nifty", "nostalgic", "objective", "optimistic", "peaceful",
    "pedantic", "pensive", "practical", "priceless", "quirky", "quizzical", "relaxed", "reverent", "romantic", "sad",
    "serene", "sharp", "silly", "sleepy", "stoic", "strange", "stupefied", "suspicious", "sweet", "tender",
    "thirsty", "trusting", "upbeat", "vibrant", "vigilant", "vigorous", "wizardly", "wonderful", "youthful", "zealous",
];

const RIGHT: &[&str] = &[
    "agnesi", "albattani", "allen", "archimedes", "babbage", "banach", "bardeen", "bartik", "bassi", "bell",
    "bhabha", "blackwell", "bohr", "booth", "borg", "bose", "brahmagupta", "brown", "carson", "cerf",
    "chandrasekhar", "clarke", "curie", "darwin", "davinci", "dijkstra", "einstein", "elion", "euclid", "euler",
    "faraday", "fermat", "fermi", "feynman", "franklin", "galileo", "gauss", "goldberg", "goodall", "hamilton",
    "hawking", "heisenberg", "hertz", "hodgkin", "hopper", "hypatia", "jackson", "jang", "kalam", "kepler",
    "khorana", "knuth", "kowalevski", "lamport", "leakey", "lovelace", "lumiere", "mayer", "mccarthy", "meitner",
    "mendel", "merkle", "mirzakhani", "montalcini", "morse", "napier", "newton", "nobel", "noether", "noyce",
    "pascal", "pasteur", "perlman", "pike", "poincare", "ptolemy", "raman", "ramanujan", "ritchie", "rosalind",
    "sammet", "shannon", "shockley", "sinoussi", "stallman", "swartz", "tesla", "thompson", "torvalds", "turing",
    "varahamihira", "volhard", "wescoff", "wiles", "williams", "wilson", "wing", "wozniak", "wright", "yonath",
];

fn random_index(n: usize) -> usize {
    let mut b = [0u8; 8];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = std::io::Read::read_exact(&mut f, &mut b);
    }
    (u64::from_le_bytes(b) % n as u64) as usize
}

/// A random `adjective_surname`; after a few collisions a digit is appended, as Docker
/// does.
pub fn generate(taken: impl Fn(&str) -> bool) -> String {
    for attempt in 0..10 {
        let mut name = format!("{}_{}", LEFT[random_index(LEFT.len())], RIGHT[random_index(RIGHT.len())]);
        // Steve Wozniak is not boring (Docker's one exception).
        if name == "boring_wozniak" {
            continue;
        }
        if attempt > 2 {
            name.push_str(&random_index(10).to_string());
        }
        if !taken(&name) {
            return name;
        }
    }
    format!("berth_{}", &super::new_id()[..12])
}

/// Docker's rule for user-chosen names: `/?[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn validate(name: &str) -> Result<String, String> {
    let n = name.strip_prefix('/').unwrap_or(name);
    let mut chars = n.chars();
    let ok = match chars.next() {
        Some(c) if c.is_ascii_alphanumeric() => n.len() >= 2 && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)),
        _ => false,
    };
    if ok {
        Ok(n.to_owned())
    } else {
        Err(format!("Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(validate("/web").unwrap(), "web");
        assert_eq!(validate("a.b-c_d").unwrap(), "a.b-c_d");
        assert!(validate("x").is_err());
        assert!(validate("-x").is_err());
        assert!(validate("a b").unwrap_err().contains("Invalid container name (a b)"));
        let n = generate(|_| false);
        let (l, r) = n.split_once('_').unwrap();
        assert!(LEFT.contains(&l) && RIGHT.contains(&r), "{n}");
        let n = generate(|n| !n.ends_with(char::is_numeric));
        assert!(n.ends_with(char::is_numeric), "{n}");
    }
}
