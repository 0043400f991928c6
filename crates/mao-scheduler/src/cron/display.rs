//! Writing an expression back in its normalized form.

use std::fmt;

use super::{Cron, Field};

impl fmt::Display for Cron {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let x = &self.fields;
        let parts = [
            render(Field::Minute, &[x.minutes, 0, 0, 0], false),
            render(Field::Hour, &[x.hours, 0, 0, 0], false),
            render(Field::DayOfMonth, &[x.days_of_month, 0, 0, 0], x.dom_any),
            render(Field::Month, &[x.months, 0, 0, 0], false),
            render(Field::DayOfWeek, &[x.days_of_week, 0, 0, 0], x.dow_any),
        ];
        match &x.years {
            None if x.seconds == 1 => write!(f, "{}", parts.join(" ")),
            None => write!(
                f,
                "{} {}",
                render(Field::Second, &[x.seconds, 0, 0, 0], false),
                parts.join(" ")
            ),
            Some(years) => write!(
                f,
                "{} {} {}",
                render(Field::Second, &[x.seconds, 0, 0, 0], false),
                parts.join(" "),
                render(Field::Year, years, false)
            ),
        }
    }
}

/// Writes one field in a compact form that parses back to the same set.
fn render(field: Field, bits: &[u64; 4], any: bool) -> String {
    if any {
        return "*".to_string();
    }
    let (min, _) = field.bounds();
    let top = field.top();
    let values: Vec<u32> = (min..=top)
        .filter(|&v| {
            let i = field.index(v);
            bits[(i / 64) as usize] & (1 << (i % 64)) != 0
        })
        .collect();
    let full = values.len() as u32 == top - min + 1;
    // A full day field is not `*`: written out it keeps the day-of-month/day-of-week rule.
    if full && !matches!(field, Field::DayOfMonth | Field::DayOfWeek | Field::Year) {
        return "*".to_string();
    }
    if let [first, second, ..] = values[..] {
        let step = second - first;
        let last = *values.last().expect("two values at least");
        let regular = values.windows(2).all(|w| w[1] - w[0] == step);
        if regular && step > 1 {
            let to_top = last + step > top;
            // Two values read better as a list, unless they halve the field (`*/30`).
            if to_top && first == min && (values.len() >= 3 || 2 * step == top - min + 1) {
                return format!("*/{step}");
            }
            if values.len() >= 3 {
                return if to_top {
                    format!("{first}/{step}")
                } else {
                    format!("{first}-{last}/{step}")
                };
            }
        }
    }
    let mut parts = Vec::new();
    let mut i = 0;
    while i < values.len() {
        let mut j = i;
        while j + 1 < values.len() && values[j + 1] == values[j] + 1 {
            j += 1;
        }
        if j - i >= 2 {
            parts.push(format!("{}-{}", values[i], values[j]));
        } else {
            parts.extend(values[i..=j].iter().map(u32::to_string));
        }
        i = j + 1;
    }
    parts.join(",")
}
