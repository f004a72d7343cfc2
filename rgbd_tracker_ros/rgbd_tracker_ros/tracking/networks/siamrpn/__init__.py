"""SiamRPN++ (pysot ``siamrpn_r50_l234_dwxcorr`` and its long-term ``_lt``)."""
