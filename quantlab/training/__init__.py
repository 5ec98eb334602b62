"""The trial (layer 4): when training diverges (:mod:`.divergence`), float training and quantized
retraining (:mod:`.train`), the later stages' programs compiled while the float network trains
(:mod:`.warmup`), the float-network cache (:mod:`.netcache`) and one trial as public stages
(:mod:`.experiment`)."""
