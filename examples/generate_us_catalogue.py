"""Generate the demo's US catalogue: 2,000 parents with 1 to 5 colour variants each (CSV).

Deterministic (a fixed seed): the same arguments write the same file, so a second `make demo`
uploads an unchanged snapshot and its export run makes no write call. The columns are the
merchant's own (`product_type`, `brand`, `material`, `image_url`); examples/us-generated.feed.yaml
maps them to TikTok's attributes with rule boxes and taxonomy lists.

    python examples/generate_us_catalogue.py OUT.csv [--parents 2000]
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
from pathlib import Path

# The merchant's category paths (their words, not TikTok's): the feed's category list maps
# them, most by accepting confident suggestions; "Gifts > Surprise Box" matches nothing well
# and "Office > Paper > Notebooks" lacks a required attribute, so some products show why a
# product is not ready.
TYPES = {
    "Kitchen > Drinkware > Mugs": ("Mug", ("Ceramic", "Glass")),
    "Home Decor > Candles": ("Candle", ("Glass", "Ceramic")),
    "Home Decor > Vases": ("Vase", ("Glass", "Ceramic")),
    "Lighting > Table Lamps": ("Table Lamp", ("Metal", "Wood")),
    "Bedding > Blankets": ("Blanket", ("Cotton", "Polyester")),
    "Home Textiles > Throw Pillows": ("Throw Pillow", ("Cotton", "Silk")),
    "Travel Bags > Backpacks": ("Backpack", ("Polyester", "Leather")),
    "Office > Paper > Notebooks": ("Notebook", ("Plastic",)),
    "Gifts > Surprise Box": ("Surprise Box", ("Plastic",)),
}
WEIGHTS = (14, 12, 12, 12, 12, 12, 12, 7, 7)
BRANDS = ("Aurora Home", "Birch Home", "Delta Home", "Ember Home", "Fable Home")
ADJECTIVES = ("Classic", "Modern", "Rustic", "Minimal", "Cosy", "Bold", "Soft", "Urban")
COLORS = ("Red", "Blue", "Black", "White", "Green", "Yellow")
COLUMNS = (
    "product_id", "parent_id", "product_name", "description", "product_type", "brand",
    "material", "color", "price", "stock", "weight_kg", "image_url", "variant_image",
)  # fmt: skip


def rows(parents: int, seed: int = 13) -> list[dict[str, str]]:
    rng = random.Random(seed)
    kinds = list(TYPES)
    out = []
    for p in range(parents):
        kind = rng.choices(kinds, weights=WEIGHTS)[0]
        noun, materials = TYPES[kind]
        material = rng.choice(materials)
        adjective = rng.choice(ADJECTIVES)
        parent = f"us-{p:05d}"
        colors = rng.sample(COLORS, rng.randint(1, 5))
        price = rng.choice((9.99, 14.5, 19.99, 24.0, 34.99, 49.99, 79.0))
        slug = noun.lower().replace(" ", "-")
        brand = rng.choice(BRANDS)
        weight = f"{rng.uniform(0.2, 3.0):.2f}"
        for color in colors:
            out.append(
                {
                    "product_id": f"{parent}-{color.lower()}",
                    "parent_id": parent,
                    "product_name": f"{adjective} {material} {noun} {p:05d}",
                    "description": f"<p>A {adjective.lower()} {noun.lower()} made of "
                    f"{material.lower()}.</p><ul><li>Demo product {p}</li></ul>",
                    "product_type": kind,
                    "brand": brand,
                    "material": material,
                    "color": color,
                    "price": f"{price:.2f}",
                    "stock": str(rng.randint(5, 60)),
                    "weight_kg": weight,
                    "image_url": f"https://images.demo-shop.example/{slug}/main.png",
                    "variant_image": f"https://images.demo-shop.example/{slug}/{color.lower()}.png",
                }
            )
    return out


def write(path: Path, parents: int) -> int:
    data = rows(parents)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(data)
    return len(data)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--parents", type=int, default=2000)
    args = parser.parse_args(argv)
    n = write(args.out, args.parents)
    print(f"{n} variants of {args.parents} parents written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
