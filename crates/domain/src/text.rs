//! Bounds on what a command may carry to SEQR: text lengths, characters, and list sizes.
//!
//! SEQR's schema gives no lengths for invoice text (PROTOCOL.md §4 documents only the client context's), so these
//! are seqrd's own, generous for any register or webshop and small enough that a request stays far below what SEQR
//! accepts. Every text must also consist of characters XML 1.0 allows (no C0 controls but tab, line feed and
//! carriage return, no U+FFFE or U+FFFF): SEQR's SOAP parser refuses a whole request with any other. The limits are
//! published in the OpenAPI document and in docs/security.md.

use crate::rejection::Rejection;

/// Longest text, in characters, per field.
pub mod max {
    /// Invoice title and refund title.
    pub const TITLE: usize = 200;
    /// The merchant's invoice id, the cashier id, a receipt's ERS reference.
    pub const ID: usize = 64;
    /// The invoice footer.
    pub const FOOTER: usize = 500;
    /// A row's description.
    pub const DESCRIPTION: usize = 200;
    /// A row's SKU and EAN.
    pub const CODE: usize = 64;
    /// A row's unit.
    pub const UNIT: usize = 16;
    /// A customer token's id (kind).
    pub const TOKEN_ID: usize = 64;
    /// A customer token's value.
    pub const TOKEN_VALUE: usize = 256;
    /// A customer token's description.
    pub const TOKEN_DESCRIPTION: usize = 200;
    /// A receipt document's MIME type.
    pub const MIME_TYPE: usize = 100;
    /// An operator's note when resolving a call.
    pub const NOTE: usize = 1000;
    /// Rows of an invoice or a refund.
    pub const ROWS: usize = 500;
    /// Customer tokens of one command.
    pub const TOKENS: usize = 50;
}

/// Whether XML 1.0 allows the character (a `char` is never a lone surrogate).
pub fn is_xml_char(c: char) -> bool {
    !matches!(c, '\u{0}'..='\u{8}' | '\u{b}' | '\u{c}' | '\u{e}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}')
}

/// Checks one text field: at most `max` characters, each allowed by XML 1.0.
pub fn check(field: &str, value: &str, max: usize) -> Result<(), Rejection> {
    if let Some(c) = value.chars().find(|&c| !is_xml_char(c)) {
        return Err(Rejection::InvalidText {
            field: field.to_owned(),
            problem: format!("contains U+{:04X}, which XML 1.0 (and so SEQR) does not allow", u32::from(c)),
        });
    }
    let length = value.chars().count();
    if length > max {
        return Err(Rejection::InvalidText {
            field: field.to_owned(),
            problem: format!("is {length} characters long; at most {max} are allowed"),
        });
    }
    Ok(())
}

/// [`check`] for an optional field.
pub fn check_opt(field: &str, value: Option<&str>, max: usize) -> Result<(), Rejection> {
    value.map_or(Ok(()), |v| check(field, v, max))
}

/// Checks the number of items of a list.
pub fn check_count(field: &str, count: usize, max: usize) -> Result<(), Rejection> {
    if count > max {
        return Err(Rejection::TooManyItems { field: field.to_owned(), count, max });
    }
    Ok(())
}
