//! Canonical decimal strings. Decimals are kept as text, never as binary floats, so that
//! `0.1` stays `0.1`; one number has one canonical form so that equal amounts give equal
//! blind-index terms (`012.50` and `12.5` are the same amount).

/// The most significant digits (and the furthest the decimal point may sit from them).
pub(super) const MAX_DIGITS: usize = 100;

/// Parses `-?digits(.digits)?([eE][+-]?digits)?` and renders it without leading or trailing
/// zeros, without exponent, and without a sign on zero. `None` if it is not a decimal or
/// does not fit in [`MAX_DIGITS`].
pub(super) fn normalize(text: &str) -> Option<String> {
    let (negative, rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match rest.find(['e', 'E']) {
        Some(i) => (rest.get(..i)?, parse_exponent(rest.get(i + 1..)?)?),
        None => (rest, 0),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((int, frac)) => (int, Some(frac)),
        None => (mantissa, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(int) || frac.is_some_and(|f| !all_digits(f)) {
        return None;
    }
    if int.len() + frac.map_or(0, str::len) > 4 * MAX_DIGITS {
        return None;
    }
    let digits: String = [int, frac.unwrap_or("")].concat();
    // Position of the decimal point, counted in digits from the left of `digits`.
    let mut point = i64::try_from(int.len()).ok()? + exponent;
    let significant = digits.trim_start_matches('0');
    point -= i64::try_from(digits.len() - significant.len()).ok()?;
    let significant = significant.trim_end_matches('0');
    if significant.is_empty() {
        return Some("0".to_owned());
    }
    let max = i64::try_from(MAX_DIGITS).ok()?;
    if significant.len() > MAX_DIGITS || point > max || point < -max {
        return None;
    }
    let len = i64::try_from(significant.len()).ok()?;
    let mut out = String::with_capacity(MAX_DIGITS + 4);
    if negative {
        out.push('-');
    }
    if point <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', usize::try_from(-point).ok()?));
        out.push_str(significant);
    } else if point >= len {
        out.push_str(significant);
        out.extend(std::iter::repeat_n('0', usize::try_from(point - len).ok()?));
    } else {
        let (whole, fraction) = significant.split_at(usize::try_from(point).ok()?);
        out.push_str(whole);
        out.push('.');
        out.push_str(fraction);
    }
    Some(out)
}

fn parse_exponent(text: &str) -> Option<i64> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || digits.len() > 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_get_one_canonical_form() {
        for (input, expected) in [
            ("0", "0"),
            ("-0", "0"),
            ("0.000", "0"),
            ("12.50", "12.5"),
            ("012.5", "12.5"),
            ("100", "100"),
            ("100.00", "100"),
            ("-3.14", "-3.14"),
            ("0.001", "0.001"),
            ("1e3", "1000"),
            ("1.5E-3", "0.0015"),
            ("-2.5e+2", "-250"),
            (
                "123456789012345678901234567890.5",
                "123456789012345678901234567890.5",
            ),
        ] {
            assert_eq!(normalize(input).as_deref(), Some(expected), "{input}");
        }
    }

    #[test]
    fn non_decimals_are_refused() {
        for input in [
            "", "-", ".", "1.", ".5", "+1", "1,5", "1e", "e5", "1e99999", "0x10", "NaN", "inf",
            " 1", "1 ", "1.2.3", "١", "1e101", "1e-102",
        ] {
            assert_eq!(normalize(input), None, "{input:?}");
        }
    }
}
