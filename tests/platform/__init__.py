"""Tests of the platform skeleton."""
