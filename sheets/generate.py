#!/usr/bin/env python3
"""Generates inventory.xlsx, the sample workbook `sheetmesh up` syncs when no
Google spreadsheet is configured: Products (200 rows), Stores (20), Orders (300).

Deterministic (fixed seed, fixed document times), so rerunning it changes
nothing unless this script changed. openpyxl is needed only here, not by the
project; use a throwaway virtualenv:

    python3 -m venv /tmp/sheets-venv && /tmp/sheets-venv/bin/pip install openpyxl
    /tmp/sheets-venv/bin/python sheets/generate.py
"""
import datetime
import pathlib
import random
import re
import zipfile

from openpyxl import Workbook

rng = random.Random(42)

CATEGORIES = {
    "Kitchen": ["Kettle", "Toaster", "Chef's Knife", "Cutting Board", "Saucepan", "Blender", "Coffee Grinder", "Mixing Bowl"],
    "Garden": ["Watering Can", "Pruning Shears", "Garden Hose", "Seed Tray", "Trowel", "Planter Box"],
    "Office": ["Desk Lamp", "Notebook", "Stapler", "Monitor Stand", "Office Chair", "Whiteboard"],
    "Toys": ["Puzzle", "Building Blocks", "Kite", "Board Game", "Plush Bear", "Yo-yo"],
    "Bathroom": ["Bath Towel", "Soap Dispenser", "Shower Caddy", "Bath Mat"],
}
COLORS = ["Black", "White", "Steel", "Oak", "Red", "Blue", "Green", "Grey"]
CITIES = [
    ("Berlin", "DE"), ("Hamburg", "DE"), ("München", "DE"), ("Zürich", "CH"), ("Genève", "CH"),
    ("Wien", "AT"), ("Paris", "FR"), ("Lyon", "FR"), ("Amsterdam", "NL"), ("Rotterdam", "NL"),
    ("Kraków", "PL"), ("Warszawa", "PL"), ("Praha", "CZ"), ("Madrid", "ES"), ("Barcelona", "ES"),
    ("Milano", "IT"), ("Roma", "IT"), ("København", "DK"), ("Stockholm", "SE"), ("Oslo", "NO"),
]
STATUSES = ["delivered"] * 6 + ["shipped"] * 2 + ["pending", "cancelled"]

wb = Workbook()
products = wb.active
products.title = "Products"
products.append(["sku", "name", "category", "price", "stock", "supplier", "active"])
catalog = []
for i in range(1, 201):
    category = rng.choice(list(CATEGORIES))
    name = f"{rng.choice(COLORS)} {rng.choice(CATEGORIES[category])}"
    price = round(rng.uniform(2, 250), 2)
    stock = rng.choice([0, 0, 3, 5, 8, 12, 20, 35, 50, 80, 120])
    sku = f"SKU-{i:04d}"
    catalog.append((sku, price))
    supplier = rng.choice(["Nordwerk GmbH", "Acme Supply", "Maison & Co", "Hansen A/S", "Verde S.p.A."])
    products.append([sku, name, category, price, stock, supplier, stock > 0])

stores = wb.create_sheet("Stores")
stores.append(["store_id", "name", "city", "country", "opened", "manager", "sqm"])
managers = ["A. Novak", "B. Müller", "C. Dubois", "D. Rossi", "E. Jansen", "F. García", "G. Nilsson", "H. Kowalski"]
for i, (city, country) in enumerate(CITIES, start=1):
    opened = datetime.date(2012, 1, 1) + datetime.timedelta(days=rng.randrange(0, 4000))
    stores.append([f"ST-{i:02d}", f"sheetmesh {city}", city, country, opened, rng.choice(managers), rng.randrange(120, 900, 10)])
for row in stores.iter_rows(min_row=2, min_col=5, max_col=5):
    row[0].number_format = "yyyy-mm-dd"

orders = wb.create_sheet("Orders")
orders.append(["order_id", "date", "store_id", "sku", "quantity", "unit_price", "total", "status"])
start = datetime.date(2026, 1, 1)
for i in range(1, 301):
    sku, price = rng.choice(catalog)
    quantity = rng.choice([1, 1, 1, 2, 2, 3, 4, 6, 10])
    day = start + datetime.timedelta(days=rng.randrange(0, 150))
    orders.append([f"ORD-{i:05d}", day, f"ST-{rng.randrange(1, 21):02d}", sku, quantity, price, round(price * quantity, 2), rng.choice(STATUSES)])
for row in orders.iter_rows(min_row=2, min_col=2, max_col=2):
    row[0].number_format = "yyyy-mm-dd"

# Fixed document times keep the file byte-for-byte reproducible.
fixed = datetime.datetime(2026, 1, 1)
wb.properties.created = fixed
wb.properties.modified = fixed
wb.properties.creator = "sheetmesh"
out = pathlib.Path(__file__).with_name("inventory.xlsx")
wb.save(out)

# openpyxl stamps the save time into docProps/core.xml and the zip entries;
# rewrite both with the fixed time so the bytes depend on this script only.
with zipfile.ZipFile(out) as z:
    entries = [(info.filename, z.read(info.filename)) for info in z.infolist()]
stamp = fixed.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
    for name, data in entries:
        if name == "docProps/core.xml":
            data = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>" + stamp, data)
        z.writestr(zipfile.ZipInfo(name, fixed.timetuple()[:6]), data, zipfile.ZIP_DEFLATED)
print(out)
