"""Reading and judging results (layers 6 and 7): tidy rows and the one seed summary (:mod:`.rows`,
reading only), statistics (:mod:`.stats`), what a reviewer would flag (:mod:`.anomalies`) and the
verdicts on the paper's claims (:mod:`.report`). Nothing here trains."""
