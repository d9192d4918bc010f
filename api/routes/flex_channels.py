"""Placeholder: filled in by the flex_channels work."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
