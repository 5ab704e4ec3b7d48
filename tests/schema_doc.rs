//! `docs/schema.md` documents every column of every table: name, Arrow type and nullability,
//! in schema order. This test parses the document and compares it with the real schemas.

use ledgerflow::tables::Table;

/// `(column, type, nullable)` rows of the first markdown table under `## <table>`.
fn documented(doc: &str, table: &str) -> Vec<(String, String, String)> {
    let heading = format!("## {table}");
    let Some(start) = doc.lines().position(|l| l.trim() == heading) else {
        panic!("docs/schema.md has no `{heading}` section");
    };
    doc.lines()
        .skip(start + 1)
        .take_while(|l| !l.starts_with("## "))
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2) // header and separator
        .map(|line| {
            let cells: Vec<String> = line.split('|').map(|c| c.trim().trim_matches('`').to_owned()).collect();
            (cells[1].clone(), cells[2].clone(), cells[3].clone())
        })
        .collect()
}

fn actual(table: Table) -> Vec<(String, String, String)> {
    table
        .schema()
        .fields()
        .iter()
        .map(|f| {
            let nullable = if f.is_nullable() { "yes" } else { "no" };
            (f.name().clone(), f.data_type().to_string(), nullable.to_owned())
        })
        .collect()
}

#[test]
fn schema_doc_matches_every_table() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/schema.md")).unwrap();
    for table in Table::ALL {
        let actual = actual(table);
        let documented = documented(&doc, table.name());
        if documented != actual {
            let rows: Vec<String> =
                actual.iter().map(|(n, t, z)| format!("| `{n}` | `{t}` | {z} | |")).collect();
            panic!(
                "docs/schema.md `## {}` differs from the schema; the schema's rows are:\n{}",
                table.name(),
                rows.join("\n")
            );
        }
    }
}
