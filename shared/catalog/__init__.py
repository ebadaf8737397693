"""The AKS error catalog: data (catalog.json), its schema and a cached loader."""

from shared.catalog.loader import CatalogIndex, catalog_index, load_catalog
from shared.catalog.schema import Catalog, Entry

__all__ = ["Catalog", "CatalogIndex", "Entry", "catalog_index", "load_catalog"]
