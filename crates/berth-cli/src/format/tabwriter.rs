//! Go's `text/tabwriter` as the docker CLI configures it: minwidth 10, tabwidth 1, padding 3,
//! space padding, no flags. Tab-terminated cells are aligned per column block; the last cell of
//! a line is not part of a column; a line without tabs ends the block.

pub struct TabWriter {
    minwidth: usize,
    padding: usize,
}

impl Default for TabWriter {
    fn default() -> Self {
        Self {
            minwidth: 10,
            padding: 3,
        }
    }
}

/// Display width in runes, as tabwriter counts (it ignores East Asian widths).
fn cell_width(s: &str) -> usize {
    s.chars().count()
}

impl TabWriter {
    pub fn new(minwidth: usize, padding: usize) -> Self {
        Self { minwidth, padding }
    }

    /// Aligns `text` (lines ending in '\n').
    pub fn format(&self, text: &str) -> String {
        let mut out = String::new();
        let mut block: Vec<Vec<&str>> = Vec::new();
        let mut lines: Vec<&str> = text.split('\n').collect();
        let trailing_newline = text.ends_with('\n');
        if trailing_newline {
            lines.pop();
        }
        for (i, line) in lines.iter().enumerate() {
            let cells: Vec<&str> = line.split('\t').collect();
            let single = cells.len() == 1;
            block.push(cells);
            let last = i + 1 == lines.len();
            if single || last {
                let mut widths = Vec::new();
                self.format_block(&block, 0, block.len(), &mut widths, &mut out);
                block.clear();
            }
        }
        if !trailing_newline && out.ends_with('\n') {
            out.pop();
        }
        out
    }

    fn format_block(
        &self,
        lines: &[Vec<&str>],
        mut line0: usize,
        line1: usize,
        widths: &mut Vec<usize>,
        out: &mut String,
    ) {
        let column = widths.len();
        let mut this = line0;
        while this < line1 {
            if column + 1 >= lines[this].len() {
                this += 1;
                continue;
            }
            self.write_lines(lines, line0, this, widths, out);
            line0 = this;
            let mut width = self.minwidth;
            while this < line1 && column + 1 < lines[this].len() {
                width = width.max(cell_width(lines[this][column]) + self.padding);
                this += 1;
            }
            widths.push(width);
            self.format_block(lines, line0, this, widths, out);
            widths.pop();
            line0 = this;
        }
        self.write_lines(lines, line0, line1, widths, out);
    }

    fn write_lines(
        &self,
        lines: &[Vec<&str>],
        from: usize,
        to: usize,
        widths: &[usize],
        out: &mut String,
    ) {
        for cells in &lines[from..to] {
            for (j, cell) in cells.iter().enumerate() {
                out.push_str(cell);
                if j < widths.len() {
                    let pad = widths[j].saturating_sub(cell_width(cell));
                    out.extend(std::iter::repeat_n(' ', pad));
                }
            }
            out.push('\n');
        }
    }
}

/// Aligns with docker's settings.
pub fn align(text: &str) -> String {
    TabWriter::default().format(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_ps_header() {
        let t = "CONTAINER ID\tIMAGE\tCOMMAND\tCREATED\tSTATUS\tPORTS\tNAMES\n";
        assert_eq!(
            align(t),
            "CONTAINER ID   IMAGE     COMMAND   CREATED   STATUS    PORTS     NAMES\n"
        );
    }

    #[test]
    fn aligns_columns_by_widest_cell() {
        let t = "REPOSITORY\tTAG\tSIZE\nbusybox\tlatest\t1.98MB\na-much-longer-name\tv1\t1B\n";
        assert_eq!(
            align(t),
            "REPOSITORY           TAG       SIZE\nbusybox              latest    1.98MB\na-much-longer-name   v1        1B\n"
        );
    }

    #[test]
    fn line_without_tabs_breaks_blocks() {
        let t = "a\tb\nplain\nlonger-cell\tc\n";
        assert_eq!(align(t), "a         b\nplain\nlonger-cell   c\n");
    }

    #[test]
    fn ragged_lines_form_nested_blocks() {
        let t = "x\ty\tz\nxx\n";
        assert_eq!(align(t), "x         y         z\nxx\n");
        let t = "a\tb\tc\naaaa\tb\n";
        assert_eq!(align(t), "a         b         c\naaaa      b\n");
    }

    #[test]
    fn counts_runes_not_bytes() {
        assert_eq!(align("é\tx\n"), "é         x\n");
    }
}
