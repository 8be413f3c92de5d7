"""Profiles: one TOML file per deployment, validated into typed objects."""

from pecc_core.profile.loader import ProfileError, available, load
from pecc_core.profile.model import GunConfig, ModuleConfig, PluginChoice, Profile

__all__ = ["GunConfig", "ModuleConfig", "PluginChoice", "Profile", "ProfileError", "available", "load"]
