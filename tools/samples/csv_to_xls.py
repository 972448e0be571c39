#!/usr/bin/env python3
"""Writes a CSV file as a one-sheet legacy Excel 97-2003 workbook (.xls,
BIFF8), the form many government item lists are still published in, so
the import of `.xls` is tested on a real file: whole numbers become number
cells, everything else text. Needs the `xlwt` package (PyPI).

Usage: python3 csv_to_xls.py catalog.csv catalog.xls
"""
import csv
import sys

import xlwt


def main(src, dst):
    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet("事项目录")
    with open(src, newline="", encoding="utf-8") as f:
        for r, row in enumerate(csv.reader(f)):
            for c, value in enumerate(row):
                if value.isdigit():
                    sheet.write(r, c, int(value))
                else:
                    sheet.write(r, c, value)
    book.save(dst)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
