//! Signed notes (golang.org/x/mod/sumdb/note): verifier keys and Ed25519
//! signature lines. The Ed25519 arithmetic is ed25519-dalek's; the key and note
//! syntax is Go's and small, so it is written here, checked with x/mod's vectors.
//!
//! - A verifier key is `name+hash+base64(0x01 || 32-byte public key)`, where hash is
//!   8 hex digits: the first 4 bytes of sha256(name || "\n" || 0x01 || key).
//! - A note is text ending in "\n", a blank line, then signature lines
//!   `— name base64(4-byte key hash || 64-byte signature)`; the signature is over the text.

use base64::Engine;
use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};

const ALG_ED25519: u8 = 1;
/// x/mod refuses notes with more signatures than this.
const MAX_SIGS: usize = 100;

/// A public key of a checksum database, as GOSUMDB names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verifier {
    pub name: String,
    pub(crate) hash: u32,
    key: VerifyingKey,
    /// The key as given (`name+hash+base64`).
    pub(crate) text: String,
}

fn key_hash(name: &str, key: &[u8]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update(key);
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

fn is_valid_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(char::is_whitespace) && !name.contains('+')
}

impl Verifier {
    /// Parses `name+hash+key`, checking the hash against the key.
    pub fn parse(vkey: &str) -> Result<Verifier, String> {
        let bad = |why: &str| Err(format!("{vkey:?}: not a checksum database key ({why}); want NAME+HASH+KEY"));
        let (name, rest) = vkey.split_once('+').unwrap_or((vkey, ""));
        let (hash16, key64) = rest.split_once('+').unwrap_or((rest, ""));
        if !is_valid_name(name) {
            return bad("bad name");
        }
        let hash = match u32::from_str_radix(hash16, 16) {
            Ok(h) if hash16.len() == 8 && hash16.bytes().all(|b| b.is_ascii_hexdigit()) => h,
            _ => return bad("the hash is not 8 hex digits"),
        };
        let Ok(key) = base64::engine::general_purpose::STANDARD.decode(key64) else {
            return bad("the key is not base64");
        };
        if key.is_empty() {
            return bad("empty key");
        }
        if key_hash(name, &key) != hash {
            return bad("the hash does not match the key");
        }
        if key[0] != ALG_ED25519 {
            return bad("unknown key algorithm");
        }
        let Ok(raw) = <[u8; 32]>::try_from(&key[1..]) else {
            return bad("an Ed25519 key is 32 bytes");
        };
        let Ok(key) = VerifyingKey::from_bytes(&raw) else {
            return bad("not an Ed25519 public key");
        };
        Ok(Verifier { name: name.to_string(), hash, key, text: vkey.to_string() })
    }

    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        let Ok(sig) = <[u8; 64]>::try_from(sig) else { return false };
        // verify_strict: no malleable signatures (Go's crypto/ed25519 rejects them too).
        self.key.verify_strict(msg, &Signature::from_bytes(&sig)).is_ok()
    }
}

/// A note whose signature by one of the known keys checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The signed text (ends in "\n").
    pub(crate) text: String,
    /// `name+hash` of the known keys that signed it.
    pub(crate) signed_by: Vec<String>,
}

/// Opens a signed note: every signature by a known key must verify, and at least
/// one must be present. Signatures by unknown keys are ignored (as x/mod does).
pub fn open(msg: &[u8], known: &[Verifier]) -> Result<Note, String> {
    let s = std::str::from_utf8(msg).map_err(|_| "malformed note: not UTF-8".to_string())?;
    if s.chars().any(|c| c < ' ' && c != '\n') {
        return Err("malformed note: control character".into());
    }
    let split = s.rfind("\n\n").ok_or("malformed note: no signature block")?;
    let (text, sigs) = (&s[..split + 1], &s[split + 2..]);
    if !sigs.ends_with('\n') {
        return Err("malformed note: signature block does not end in a newline".into());
    }
    let mut signed_by: Vec<String> = Vec::new();
    let mut unknown: Vec<String> = Vec::new();
    for (i, line) in sigs.lines().enumerate() {
        if i >= MAX_SIGS {
            return Err("malformed note: too many signatures".into());
        }
        let line = line.strip_prefix("— ").ok_or("malformed note: signature line without \"— \"")?;
        let (name, b64) = line.split_once(' ').unwrap_or((line, ""));
        let sig = base64::engine::general_purpose::STANDARD.decode(b64).unwrap_or_default();
        if !is_valid_name(name) || sig.len() < 5 {
            return Err("malformed note: bad signature line".into());
        }
        let hash = u32::from_be_bytes([sig[0], sig[1], sig[2], sig[3]]);
        let id = format!("{name}+{hash:08x}");
        let mut matching = known.iter().filter(|v| v.name == name && v.hash == hash);
        let Some(v) = matching.next() else {
            unknown.push(id);
            continue;
        };
        if matching.any(|w| w.key != v.key) {
            return Err(format!("ambiguous key {id}"));
        }
        if signed_by.contains(&id) {
            continue;
        }
        if !v.verify(text.as_bytes(), &sig[4..]) {
            return Err(format!("invalid signature for key {id}"));
        }
        signed_by.push(id);
    }
    if signed_by.is_empty() {
        unknown.dedup();
        let by = if unknown.is_empty() { String::new() } else { format!(" (signed by {})", unknown.join(", ")) };
        return Err(format!("note has no verifiable signatures{by}"));
    }
    Ok(Note { text: text.to_string(), signed_by })
}

#[cfg(test)]
mod tests {
    use super::*;

    // From golang.org/x/mod/sumdb/note/note_test.go.
    const PETER: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const ENOCH: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
    const TEXT: &str =
        "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
    const PETER_SIG: &str =
        "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
    const ENOCH_SIG: &str =
        "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

    #[test]
    fn verifier_keys() {
        let v = Verifier::parse(PETER).unwrap();
        assert_eq!((v.name.as_str(), v.hash), ("PeterNeumann", 0xc74f20a3));
        Verifier::parse("sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8").unwrap();
        // Every substring and every one-byte change is refused (as in x/mod's test).
        let b = PETER.as_bytes();
        for i in 0..=b.len() {
            for j in i + 1..=b.len() {
                if i != 0 || j != b.len() {
                    if let Ok(s) = std::str::from_utf8(&b[i..j]) {
                        assert!(Verifier::parse(s).is_err(), "{s}");
                    }
                }
            }
        }
        for i in 0..b.len() {
            let mut m = b.to_vec();
            m[i] += 1;
            if let Ok(s) = std::str::from_utf8(&m) {
                assert!(Verifier::parse(s).is_err(), "{s}");
            }
        }
        // Wrong key length and unknown algorithm, each with an adjusted key hash.
        assert!(Verifier::parse("PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==").is_err());
        assert!(Verifier::parse("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW").is_err());
    }

    #[test]
    fn open_notes() {
        let peter = Verifier::parse(PETER).unwrap();
        let enoch = Verifier::parse(ENOCH).unwrap();
        let msg = format!("{TEXT}\n{PETER_SIG}{ENOCH_SIG}");
        let n = open(msg.as_bytes(), std::slice::from_ref(&peter)).unwrap();
        assert_eq!(n.text, TEXT);
        assert_eq!(n.signed_by, vec!["PeterNeumann+c74f20a3"]);
        let n = open(msg.as_bytes(), &[peter.clone(), enoch.clone()]).unwrap();
        assert_eq!(n.signed_by.len(), 2);
        let e = open(msg.as_bytes(), &[]).unwrap_err();
        assert!(e.starts_with("note has no verifiable signatures"), "{e}");
        // Too many signatures.
        let many = format!("{TEXT}\n{}", PETER_SIG.repeat(101));
        assert!(open(many.as_bytes(), std::slice::from_ref(&peter)).unwrap_err().starts_with("malformed note"));
        // A corrupted signature by a known key.
        let bad = format!("{TEXT}\n{}ABCD{}", &PETER_SIG[..60], &PETER_SIG[60..]);
        assert_eq!(
            open(bad.as_bytes(), std::slice::from_ref(&peter)).unwrap_err(),
            "invalid signature for key PeterNeumann+c74f20a3"
        );
        // Altered text.
        let alt = format!("{}\n{PETER_SIG}", TEXT.replace("answer", "answex"));
        assert!(open(alt.as_bytes(), std::slice::from_ref(&peter)).is_err());
        // Malformed messages (x/mod's list).
        for m in [
            String::new(),
            "\n".to_string(),
            TEXT.to_string(),
            format!("{TEXT}\n"),
            format!("{TEXT}\n{}", &PETER_SIG[..PETER_SIG.len() - 1]),
            format!("\x01{TEXT}\n{PETER_SIG}"),
            format!("\u{FFFD}{TEXT}\n{PETER_SIG}").replace('\u{FFFD}', "\x7f\x01"),
            format!("{TEXT}\n— PeterNeumann\n"),
            format!("{TEXT}\n— PeterNeumann x\n"),
        ] {
            assert!(open(m.as_bytes(), std::slice::from_ref(&peter)).is_err(), "{m:?}");
        }
    }
}
