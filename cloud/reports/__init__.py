"""Venue and district reports (daily, weekly, monthly) as XLSX and PDF."""
