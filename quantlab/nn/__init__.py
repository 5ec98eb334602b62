"""Networks: the CPU-fast layers (:mod:`.conv`, :mod:`.dense`; layer 2) and the FFDNN and CNN families
with their layer arithmetic (:mod:`.models`; layer 3)."""
