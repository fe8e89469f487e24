//! Numbers as people read them in `kubectl` output and report statuses.

/// `3d 4h`, `5h 12m`, `45m`, `30s`: the largest unit that fits and the one below it.
pub fn duration(seconds: f64) -> String {
    let total = seconds.max(0.0).round() as u64;
    let units = [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)];
    let first = units
        .iter()
        .position(|&(_, size)| total >= size)
        .unwrap_or(units.len() - 1);
    let (name, size) = units[first];
    let mut text = format!("{}{name}", total / size);
    if let Some(&(next_name, next_size)) = units.get(first + 1) {
        let next = (total % size) / next_size;
        if next > 0 {
            text.push_str(&format!(" {next}{next_name}"));
        }
    }
    text
}

/// `1,204h`.
pub fn hours(hours: f64) -> String {
    let whole = hours.max(0.0).round() as u64;
    let digits = whole.to_string();
    let mut grouped = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    format!("{grouped}h")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_the_two_largest_units() {
        assert_eq!(duration(0.0), "0s");
        assert_eq!(duration(45.0), "45s");
        assert_eq!(duration(45.0 * 60.0), "45m");
        assert_eq!(duration(5.0 * 3600.0 + 12.0 * 60.0 + 7.0), "5h 12m");
        assert_eq!(duration(3.0 * 86_400.0 + 4.0 * 3600.0 + 59.0), "3d 4h");
        assert_eq!(duration(2.0 * 86_400.0 + 30.0), "2d");
    }

    #[test]
    fn hours_are_grouped_by_thousands() {
        assert_eq!(hours(0.2), "0h");
        assert_eq!(hours(999.6), "1,000h");
        assert_eq!(hours(1_234_567.0), "1,234,567h");
    }
}
