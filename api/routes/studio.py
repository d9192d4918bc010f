"""Placeholder: filled in by the studio work."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
