//! Fast writers of an `ScVal`'s two encodings in the tables: its SEP-51 JSON (stellar-xdr's
//! serde form) and its XDR.
//!
//! `serde_json::to_writer(&mut buf, &scval)` formats numbers, symbols, strings and addresses
//! through `Display` and `collect_str` one character at a time and encodes every strkey from
//! scratch, and `write_xdr` goes through `io::Write` and a depth counter for every 4-byte field;
//! on event-heavy ledgers those two were most of the `contract_events` table's cost.
//! [`write_json`] and [`write_xdr`] write the same bytes directly into a reused buffer, with
//! addresses from the [`StrkeyCache`]. Every arm not written here (errors, 256-bit integers,
//! nonce keys, contract instances, muxed, claimable-balance and pool addresses) goes through
//! stellar-xdr, so the output is byte for byte what it writes for every value. The tests compare
//! both over every `ScVal` of the fixture and generated ledgers and over proptest values with
//! edge cases.
//!
//! The serde form mirrored (stellar-xdr 30, `serde(rename_all = "snake_case")`, externally
//! tagged): `{"bool":true}`, `"void"`, `{"u32":1}` and `{"i32":-1}` as JSON numbers; `u64`,
//! `i64`, `timepoint`, `duration`, `u128`, `i128` as decimal strings; `bytes` as lower-case hex;
//! `string`, `symbol` and `executable_tag` as their `escape_bytes` text (printable ASCII kept,
//! `\` `\0` `\t` `\n` `\r` and `\xNN` escapes) then JSON-escaped; `{"vec":[..]}` or
//! `{"vec":null}`; `{"map":[{"key":..,"val":..}]}` or `{"map":null}`; `{"address":"G.."}`;
//! `"ledger_key_contract_instance"`. The XDR is RFC 4506 as stellar-xdr writes it: big-endian
//! 4-byte discriminants and integers, optional values behind a 0/1 word, variable-length
//! opaques and strings as a length word, the bytes, then zero padding to 4 bytes.

use std::io::Write as _;

use stellar_xdr::{Limited, Limits, ScAddress, ScVal, WriteXdr};

use super::encode::{Decimal, StrkeyCache, account_key};

/// XDR of `value` into `out` (after clearing it): exactly what `value.write_xdr` writes with
/// no limits, or nothing where that fails, as the tables always wrote.
pub fn write_xdr(value: &ScVal, out: &mut Vec<u8>) {
    out.clear();
    if xdr_value(value, out).is_err() {
        out.clear();
    }
}

fn xdr_value(value: &ScVal, out: &mut Vec<u8>) -> Result<(), stellar_xdr::Error> {
    let word = |out: &mut Vec<u8>, w: u32| out.extend_from_slice(&w.to_be_bytes());
    match value {
        ScVal::Bool(b) => {
            word(out, value.discriminant() as u32);
            word(out, u32::from(*b));
        }
        ScVal::Void | ScVal::LedgerKeyContractInstance => word(out, value.discriminant() as u32),
        ScVal::U32(v) => {
            word(out, value.discriminant() as u32);
            word(out, *v);
        }
        ScVal::I32(v) => {
            word(out, value.discriminant() as u32);
            out.extend_from_slice(&v.to_be_bytes());
        }
        ScVal::U64(v)
        | ScVal::Timepoint(stellar_xdr::TimePoint(v))
        | ScVal::Duration(stellar_xdr::Duration(v)) => {
            word(out, value.discriminant() as u32);
            out.extend_from_slice(&v.to_be_bytes());
        }
        ScVal::I64(v) => {
            word(out, value.discriminant() as u32);
            out.extend_from_slice(&v.to_be_bytes());
        }
        ScVal::U128(parts) => {
            word(out, value.discriminant() as u32);
            out.extend_from_slice(&parts.hi.to_be_bytes());
            out.extend_from_slice(&parts.lo.to_be_bytes());
        }
        ScVal::I128(parts) => {
            word(out, value.discriminant() as u32);
            out.extend_from_slice(&parts.hi.to_be_bytes());
            out.extend_from_slice(&parts.lo.to_be_bytes());
        }
        ScVal::Bytes(bytes) => {
            word(out, value.discriminant() as u32);
            xdr_opaque(bytes.0.as_slice(), out)?;
        }
        ScVal::String(s) => {
            word(out, value.discriminant() as u32);
            xdr_opaque(s.0.as_slice(), out)?;
        }
        ScVal::Symbol(s) => {
            word(out, value.discriminant() as u32);
            xdr_opaque(s.0.as_slice(), out)?;
        }
        ScVal::Vec(items) => {
            word(out, value.discriminant() as u32);
            match items {
                None => word(out, 0),
                Some(items) => {
                    word(out, 1);
                    word(out, xdr_len(items.0.len())?);
                    for item in items.0.iter() {
                        xdr_value(item, out)?;
                    }
                }
            }
        }
        ScVal::Map(entries) => {
            word(out, value.discriminant() as u32);
            match entries {
                None => word(out, 0),
                Some(entries) => {
                    word(out, 1);
                    word(out, xdr_len(entries.0.len())?);
                    for entry in entries.0.iter() {
                        xdr_value(&entry.key, out)?;
                        xdr_value(&entry.val, out)?;
                    }
                }
            }
        }
        ScVal::Address(address @ ScAddress::Account(account)) => {
            word(out, value.discriminant() as u32);
            word(out, address.discriminant() as u32);
            word(out, account.0.discriminant() as u32);
            out.extend_from_slice(account_key(account));
        }
        ScVal::Address(address @ ScAddress::Contract(id)) => {
            word(out, value.discriminant() as u32);
            word(out, address.discriminant() as u32);
            out.extend_from_slice(&id.0.0);
        }
        ScVal::Error(_)
        | ScVal::U256(_)
        | ScVal::I256(_)
        | ScVal::Address(_)
        | ScVal::ContractInstance(_)
        | ScVal::LedgerKeyNonce(_)
        | ScVal::ExecutableTag(_) => value.write_xdr(&mut Limited::new(&mut *out, Limits::none()))?,
    }
    Ok(())
}

/// A length word, as stellar-xdr checks it.
fn xdr_len(len: usize) -> Result<u32, stellar_xdr::Error> {
    u32::try_from(len).map_err(|_| stellar_xdr::Error::LengthExceedsMax)
}

/// Variable-length opaque or string: length, bytes, zero padding to a multiple of 4.
fn xdr_opaque(bytes: &[u8], out: &mut Vec<u8>) -> Result<(), stellar_xdr::Error> {
    out.extend_from_slice(&xdr_len(bytes.len())?.to_be_bytes());
    out.extend_from_slice(bytes);
    out.extend_from_slice(&[0u8; 3][..(4 - bytes.len() % 4) % 4]);
    Ok(())
}

/// Appends the JSON of `value` to `out`: exactly what `serde_json::to_writer` writes, or
/// `null` where serde fails (a `Display` impl erroring), as the tables always wrote.
pub fn write_json(value: &ScVal, strkeys: &mut StrkeyCache, out: &mut Vec<u8>) {
    let start = out.len();
    if json_value(value, strkeys, out).is_err() {
        out.truncate(start);
        out.extend_from_slice(b"null");
    }
}

fn json_value(value: &ScVal, strkeys: &mut StrkeyCache, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
    match value {
        ScVal::Bool(true) => out.extend_from_slice(br#"{"bool":true}"#),
        ScVal::Bool(false) => out.extend_from_slice(br#"{"bool":false}"#),
        ScVal::Void => out.extend_from_slice(br#""void""#),
        ScVal::LedgerKeyContractInstance => out.extend_from_slice(br#""ledger_key_contract_instance""#),
        ScVal::U32(v) => {
            out.extend_from_slice(br#"{"u32":"#);
            push_u64(out, u64::from(*v));
            out.push(b'}');
        }
        ScVal::I32(v) => {
            out.extend_from_slice(br#"{"i32":"#);
            push_i64(out, i64::from(*v));
            out.push(b'}');
        }
        ScVal::U64(v) => quoted(out, br#"{"u64":""#, |out| push_u64(out, *v)),
        ScVal::I64(v) => quoted(out, br#"{"i64":""#, |out| push_i64(out, *v)),
        ScVal::Timepoint(t) => quoted(out, br#"{"timepoint":""#, |out| push_u64(out, t.0)),
        ScVal::Duration(d) => quoted(out, br#"{"duration":""#, |out| push_u64(out, d.0)),
        ScVal::U128(parts) => {
            let v = (u128::from(parts.hi) << 64) | u128::from(parts.lo);
            quoted(out, br#"{"u128":""#, |out| push_u128(out, v));
        }
        ScVal::I128(parts) => {
            let v = (i128::from(parts.hi) << 64) | i128::from(parts.lo);
            quoted(out, br#"{"i128":""#, |out| {
                if v < 0 {
                    out.push(b'-');
                }
                push_u128(out, v.unsigned_abs());
            });
        }
        ScVal::Bytes(bytes) => quoted(out, br#"{"bytes":""#, |out| push_hex(out, bytes.0.as_slice())),
        ScVal::String(s) => quoted(out, br#"{"string":""#, |out| push_escaped(out, s.0.as_slice())),
        ScVal::Symbol(s) => quoted(out, br#"{"symbol":""#, |out| push_escaped(out, s.0.as_slice())),
        ScVal::ExecutableTag(s) => {
            quoted(out, br#"{"executable_tag":""#, |out| push_escaped(out, s.0.as_slice()))
        }
        ScVal::Vec(None) => out.extend_from_slice(br#"{"vec":null}"#),
        ScVal::Vec(Some(items)) => {
            out.extend_from_slice(br#"{"vec":["#);
            for (i, item) in items.0.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                json_value(item, strkeys, out)?;
            }
            out.extend_from_slice(b"]}");
        }
        ScVal::Map(None) => out.extend_from_slice(br#"{"map":null}"#),
        ScVal::Map(Some(entries)) => {
            out.extend_from_slice(br#"{"map":["#);
            for (i, entry) in entries.0.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(br#"{"key":"#);
                json_value(&entry.key, strkeys, out)?;
                out.extend_from_slice(br#","val":"#);
                json_value(&entry.val, strkeys, out)?;
                out.push(b'}');
            }
            out.extend_from_slice(b"]}");
        }
        ScVal::Address(ScAddress::Account(account)) => quoted(out, br#"{"address":""#, |out| {
            out.extend_from_slice(strkeys.account(account_key(account)).as_bytes())
        }),
        ScVal::Address(ScAddress::Contract(id)) => {
            quoted(out, br#"{"address":""#, |out| out.extend_from_slice(strkeys.contract(&id.0.0).as_bytes()))
        }
        ScVal::Error(_)
        | ScVal::U256(_)
        | ScVal::I256(_)
        | ScVal::Address(_)
        | ScVal::ContractInstance(_)
        | ScVal::LedgerKeyNonce(_) => serde_json::to_writer(&mut *out, value)?,
    }
    Ok(())
}

/// `open` (which ends with the opening quote), the string `body` writes, then `"}`.
fn quoted(out: &mut Vec<u8>, open: &[u8], body: impl FnOnce(&mut Vec<u8>)) {
    out.extend_from_slice(open);
    body(out);
    out.extend_from_slice(b"\"}");
}

fn push_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(Decimal::u64(v).as_str().as_bytes());
}

fn push_i64(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(Decimal::i64(v).as_str().as_bytes());
}

fn push_u128(out: &mut Vec<u8>, v: u128) {
    match u64::try_from(v) {
        Ok(small) => push_u64(out, small),
        // Beyond 64 bits (rare in practice): core's formatting; writing to a Vec cannot fail.
        Err(_) => {
            let _ = write!(out, "{v}");
        }
    }
}

fn push_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.reserve(bytes.len() * 2);
    for &b in bytes {
        out.push(DIGITS[usize::from(b >> 4)]);
        out.push(DIGITS[usize::from(b & 0xf)]);
    }
}

/// `bytes` as stellar-xdr's `StringM` `Display` (`escape_bytes`) writes them, then escaped as
/// serde_json escapes that text. `escape_bytes` only emits printable ASCII, of which JSON
/// escapes `"` and `\`, so each input byte maps to a fixed output.
fn push_escaped(out: &mut Vec<u8>, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut plain = bytes;
    let mut rest = bytes;
    while let Some((&b, tail)) = rest.split_first() {
        let escape: &[u8] = match b {
            b'"' => br#"\""#,
            // escape_bytes `\\`, each backslash then JSON-escaped.
            b'\\' => br"\\\\",
            0 => br"\\0",
            b'\t' => br"\\t",
            b'\n' => br"\\n",
            b'\r' => br"\\r",
            b' '..=b'~' => {
                rest = tail;
                continue;
            }
            _ => b"",
        };
        let done = plain.len() - rest.len();
        out.extend_from_slice(plain.get(..done).unwrap_or_default());
        if escape.is_empty() {
            // escape_bytes `\xNN`, its backslash JSON-escaped.
            out.extend_from_slice(br"\\x");
            out.push(DIGITS[usize::from(b >> 4)]);
            out.push(DIGITS[usize::from(b & 0xf)]);
        } else {
            out.extend_from_slice(escape);
        }
        plain = tail;
        rest = tail;
    }
    out.extend_from_slice(plain);
}

#[cfg(test)]
mod tests;
