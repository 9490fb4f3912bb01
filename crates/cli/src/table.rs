//! Column alignment as Go's text/tabwriter does it with docker's settings (minwidth 10,
//! padding 3, spaces): every tab-terminated cell is padded to its column's width; the
//! text after a line's last tab is not a cell and is left as is.

pub fn align(text: &str) -> String {
    align_with(text, 10, 3)
}

/// Alignment with another minimum cell width and padding (`top` uses 20 and 3).
pub fn align_with(text: &str, min_width: usize, padding: usize) -> String {
    let lines: Vec<Vec<&str>> = text.split_terminator('\n').map(|l| l.split('\t').collect()).collect();
    let mut widths: Vec<usize> = Vec::new();
    for cells in &lines {
        // All but the last piece are cells.
        for (i, c) in cells.iter().take(cells.len().saturating_sub(1)).enumerate() {
            let w = (c.chars().count() + padding).max(min_width);
            if widths.len() <= i {
                widths.push(w);
            } else if widths[i] < w {
                widths[i] = w;
            }
        }
    }
    let mut out = String::with_capacity(text.len() * 2);
    for cells in &lines {
        let n = cells.len();
        for (i, c) in cells.iter().enumerate() {
            out.push_str(c);
            if i + 1 < n {
                out.push_str(&" ".repeat(widths[i] - c.chars().count()));
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_like_tabwriter() {
        let t = "REPOSITORY\tTAG\tIMAGE ID\nbusybox\tlatest\tabc\n";
        assert_eq!(align(t), "REPOSITORY   TAG       IMAGE ID\nbusybox      latest    abc\n");
    }
}
