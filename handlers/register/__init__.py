"""The household register (台账): reading staff's spreadsheets into residents, and writing them back out.

One module per job: limits (how much a file may hold), reading (the rows of a CSV or XLSX file),
headers (what each column means), rows and cells (one row into a resident's fields), importer
(creating and updating residents), export (writing the register out), spreadsheets (cells that stay
text in Excel), entries (placeholder entries, and binding a WeChat user to one).
"""
