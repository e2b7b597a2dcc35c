"""Elements: which products are stored and their attributes, property sets and quantities."""

from bim.elements.get_element_attributes import get_element_attributes
from bim.elements.get_elements import SKIPPED_CLASSES, get_elements

__all__ = ["SKIPPED_CLASSES", "get_element_attributes", "get_elements"]
