"""The figures table a fault test prints for docs/FAULTS.md.

    table = FaultTable("FAULTS FIGURES", "faults_figures.md")
    table.record("tcpdump killed with kill -9", 3, "session freed", reader_summary(ref.result))
    ...
    table.write()   # prints the Markdown table; also saves it under Bazel's
                    # TEST_UNDECLARED_OUTPUTS_DIR when set
"""
import os


def reader_summary(result):
    """One line on a reference reader's result (see e2e.hostile.reference_reader)."""
    return "reference session: %s packets, %s gaps, %s dropped" % (
        result["received"], result["gaps"], result["stats_dropped"])


class FaultTable:
    """Rows of (fault, tries, what it got, what the other sessions saw)."""

    def __init__(self, title, file_name):
        self.title = title
        self.file_name = file_name
        self.rows = []

    def record(self, fault, tries, got, others):
        self.rows.append((fault, tries, got, others))

    def write(self):
        lines = ["| fault / bad input | tries | got | other sessions |", "|---|---|---|---|"]
        lines += ["| %s | %s | %s | %s |" % r for r in self.rows]
        table = "\n".join(lines)
        print("\n\n%s\n%s" % (self.title, table))
        out_dir = os.environ.get("TEST_UNDECLARED_OUTPUTS_DIR")
        if out_dir:
            with open(os.path.join(out_dir, self.file_name), "w") as f:
                f.write(table + "\n")
