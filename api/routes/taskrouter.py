"""Placeholder: filled in by the taskrouter work."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
