//! Random container names in dockerd's `adjective_surname` style.

use rand::seq::SliceRandom;

const LEFT: &[&str] = &[
    "admiring", "agitated", "amazing", "angry", "awesome", "beautiful", "blissful", "bold",
    "boring", "brave", "busy", "charming", "clever", "compassionate", "competent", "confident",
    "cool", "cranky", "crazy", "dazzling", "determined", "distracted", "dreamy", "eager",
    "ecstatic", "elastic", "elated", "elegant", "eloquent", "epic", "exciting", "fervent",
    "festive", "flamboyant", "focused", "friendly", "frosty", "funny", "gallant", "gifted",
    "goofy", "gracious", "great", "happy", "hardcore", "heuristic", "hopeful", "hungry",
    "infallible", "inspiring", "intelligent", "interesting", "jolly", "jovial", "keen", "kind",
    "laughing", "loving", "lucid", "magical", "modest", "musing", "mystifying", "naughty",
    "nervous", "nice", "nifty", "nostalgic", "objective", "optimistic", "peaceful", "pedantic",
    "pensive", "practical", "priceless", "quirky", "quizzical", "relaxed", "reverent",
    "romantic", "sad", "serene", "sharp", "silly", "sleepy", "stoic", "strange", "stupefied",
    "suspicious", "sweet", "tender", "thirsty", "trusting", "upbeat", "vibrant", "vigilant",
    "vigorous", "wizardly", "wonderful", "xenodochial", "youthful", "zealous", "zen",
];

const RIGHT: &[&str] = &[
    "agnesi", "albattani", "allen", "archimedes", "ardinghelli", "babbage", "banach", "bardeen",
    "bartik", "bell", "benz", "bhabha", "blackwell", "bohr", "booth", "borg", "bose", "brahmagupta",
    "brown", "burnell", "cannon", "carson", "cerf", "chandrasekhar", "chaplygin", "clarke",
    "curie", "darwin", "davinci", "dijkstra", "dirac", "driscoll", "edison", "einstein",
    "elion", "engelbart", "euclid", "euler", "faraday", "fermat", "fermi", "feynman", "franklin",
    "galileo", "gauss", "goldberg", "goldwasser", "goodall", "hamilton", "hawking", "heisenberg",
    "hertz", "hodgkin", "hopper", "hypatia", "jackson", "jang", "jennings", "johnson", "kalam",
    "kapitsa", "keller", "kepler", "knuth", "lamarr", "lamport", "leakey", "leavitt", "lovelace",
    "lumiere", "mahavira", "mayer", "mccarthy", "mclean", "meitner", "mendel", "merkle",
    "mirzakhani", "montalcini", "moore", "morse", "newton", "nightingale", "nobel", "noether",
    "pascal", "pasteur", "payne", "perlman", "pike", "poincare", "ptolemy", "raman", "ritchie",
    "rubin", "shannon", "shockley", "sinoussi", "stonebraker", "swanson", "tesla", "thompson",
    "torvalds", "turing", "varahamihira", "villani", "wiles", "williams", "wozniak", "wright",
    "yalow", "yonath",
];

/// A random name; `retry` > 0 appends a digit, as dockerd does after a collision.
pub fn random_name(retry: u32) -> String {
    let mut rng = rand::thread_rng();
    let l = LEFT.choose(&mut rng).copied().unwrap_or("berth");
    let r = RIGHT.choose(&mut rng).copied().unwrap_or("container");
    if retry > 0 {
        format!("{l}_{r}{}", rand::random::<u8>() % 10)
    } else {
        format!("{l}_{r}")
    }
}
