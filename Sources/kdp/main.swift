print("kdp")
