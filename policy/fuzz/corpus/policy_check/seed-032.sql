SELECT 1 # hash comment
