"""The household register (台账): reading staff's spreadsheets into residents, and writing them back out."""
