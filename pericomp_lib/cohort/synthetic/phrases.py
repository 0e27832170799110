"""Wording of every fact in English and Chinese, side by side so the two languages never drift apart.

Each entry is (en, zh); `{...}` fields come from the finding. Phrases are record fragments that the
gold evidence quotes verbatim, so the writers never change case or punctuation inside them.
The record's scaffolding (headings, note layouts, joiners) lives in record_layout.
"""

from __future__ import annotations

LABS = {  # code: (en name, zh name, unit, (male lo, hi), (female lo, hi), decimals)
    "wbc": ("WBC", "白细胞WBC", "x10^9/L", (4.0, 10.0), (3.5, 9.5), 2),
    "hb": ("haemoglobin Hb", "血红蛋白Hb", "g/L", (130, 175), (115, 150), 0),
    "plt": ("platelets PLT", "血小板PLT", "x10^9/L", (125, 350), (125, 350), 0),
    "crp": ("CRP", "C反应蛋白(超敏)CRP", "mg/L", (0, 6), (0, 6), 2),
    "cr": ("creatinine CREA", "肌酐CREA", "umol/L", (57, 111), (41, 81), 0),
    "alb": ("albumin ALB", "白蛋白ALB", "g/L", (40, 55), (40, 55), 0),
    "tnt": ("troponin T TnT", "肌钙蛋白T(TnT)", "ng/mL", (0, 0.014), (0, 0.014), 3),
    "bnp": ("NT-proBNP", "B型钠尿肽前体(NT-proBNP)", "pg/mL", (0, 300), (0, 300), 0),
    "ddimer": ("D-dimer", "D-二聚体(D-D)测定", "mg/L FEU", (0, 0.55), (0, 0.55), 2),
}

MODALITY = {
    "ct_chest": ("CT chest", "胸部CT"),
    "ct_abdomen": ("CT abdomen and pelvis (contrast)", "全腹部增强CT"),
    "cxr": ("Chest X-ray", "胸部X线片"),
    "us_legs": ("Lower-limb venous ultrasound", "双下肢深静脉彩超"),
    "ctpa": ("CT pulmonary angiography", "CT肺动脉造影"),
    "mri_head": ("MRI brain", "头颅MRI"),
    "ct_head": ("CT head", "头颅CT"),
    "endoscopy": ("Gastroscopy", "胃镜检查"),
    "ct_site": ("CT of the operative site", "术区CT"),
    "echo": ("Echocardiography", "超声心动图"),
}

LOBE = {"right lower lobe": "右肺下叶", "left lower lobe": "左肺下叶", "both lower lobes": "双肺下叶"}
SIDE = {"left": "左", "right": "右"}
VEIN = {
    "calf": ("left calf intermuscular vein", "左侧小腿肌间静脉"),
    "popliteal": ("right popliteal vein", "右侧腘静脉"),
    "femoral": ("left common femoral vein", "左侧股总静脉"),
}
ORGANISM_ZH = {
    "Escherichia coli": "大肠埃希菌",
    "Klebsiella pneumoniae": "肺炎克雷伯菌",
    "Staphylococcus aureus": "金黄色葡萄球菌",
    "Enterococcus faecalis": "粪肠球菌",
    "Pseudomonas aeruginosa": "铜绿假单胞菌",
    "coagulase-negative Staphylococcus": "凝固酶阴性葡萄球菌",
}

IMAGING = {
    "bilateral_infiltrates": (
        (
            "bilateral diffuse patchy ground-glass and consolidative opacities, new since the pre-operative scan, "
            "not explained by effusion, lobar collapse or nodules"
        ),
        "双肺弥漫斑片状磨玻璃影及实变影，较术前新发，不能用胸腔积液、肺叶塌陷或结节解释",
    ),
    "consolidation": ("new consolidation in the {lobe} with air bronchograms", "{lobe_zh}新发实变影，可见支气管充气征"),
    "new_infiltrate": (
        "new patchy infiltrates in the {lobe}, persisting on repeat imaging",
        "{lobe_zh}新发斑片状渗出影，复查持续存在",
    ),
    "leak_small": (
        "a small amount of extraluminal contrast and gas beside the anastomosis, no fluid collection",
        "吻合口旁少量对比剂外溢及积气，未见明显积液",
    ),
    "leak": (
        "contrast extravasation at the anastomosis with an adjacent fluid and gas collection",
        "吻合口处对比剂外溢，周围见积液积气影",
    ),
    "pulmonary_oedema": (
        "bilateral perihilar haziness, upper-lobe venous diversion and an enlarged cardiac silhouette",
        "双肺门周围片状模糊影，上肺静脉影增粗，心影增大",
    ),
    "dvt": (
        "non-compressible {vein} with an intraluminal hypoechoic thrombus",
        "{vein_zh}不可压闭，管腔内见低回声血栓",
    ),
    "dvt_preop": ("old thrombus in the {vein}, present before surgery", "{vein_zh}陈旧性血栓（术前检查）"),
    "dvt_neg": (
        "deep veins of both lower limbs fully compressible, no thrombus",
        "双下肢深静脉可完全压闭，未见血栓形成",
    ),
    "pe": (
        "filling defect in a {extent} branch of the {side} lower-lobe pulmonary artery",
        "{side_zh}肺下叶{extent_zh}肺动脉分支内充盈缺损",
    ),
    "pe_neg": ("no filling defect in the main or branch pulmonary arteries", "肺动脉主干及分支未见充盈缺损"),
    "acute_infarct": (
        "acute infarct in the {side} middle cerebral artery territory with restricted diffusion",
        "{side_zh}侧大脑中动脉供血区急性脑梗死，DWI呈高信号",
    ),
    "intracranial_haemorrhage": (
        "acute intracerebral haemorrhage in the {side} basal ganglia",
        "{side_zh}侧基底节区急性脑出血",
    ),
    "abscess": (
        "rim-enhancing {size} cm fluid collection containing gas in the operative bed",
        "术区见大小约{size}cm环形强化积液，内含气体",
    ),
    "atelectasis": (
        "small bilateral pleural effusions with adjacent compressive atelectasis; no consolidation",
        "双侧少量胸腔积液伴邻近肺组织压迫性不张，未见实变",
    ),
    "effusion_preop": (
        "small right pleural effusion, unchanged from the outpatient scan",
        "右侧少量胸腔积液，与门诊片相仿",
    ),
    "endoscopy_bleeding": (
        "ulcer with active oozing (Forrest Ib); haemostatic clips applied",
        "见溃疡伴活动性渗血（Forrest Ib），予钛夹止血",
    ),
    "deep_abscess": ("subfascial abscess beneath the incision", "切口筋膜下脓肿形成"),
}
EXTENT_ZH = {"segmental": "段", "subsegmental": "亚段"}

ECHO = {
    "low_ef": ("LVEF {ef}%, global left-ventricular hypokinesia", "LVEF {ef}%，左室壁运动普遍减弱"),
    "normal": ("LVEF {ef}%, no regional wall-motion abnormality", "LVEF {ef}%，未见节段性室壁运动异常"),
    "rwma": ("new anterior wall hypokinesia, LVEF {ef}%", "新发左室前壁节段性运动减弱，LVEF {ef}%"),
}

ECG = {
    "af": ("ECG: atrial fibrillation, ventricular rate {rate}/min", "心电图示心房颤动，心室率{rate}次/分"),
    "afl": ("ECG: atrial flutter with 2:1 block, rate {rate}/min", "心电图示心房扑动（2:1传导），心室率{rate}次/分"),
    "svt": ("ECG: supraventricular tachycardia, rate {rate}/min", "心电图示阵发性室上性心动过速，心率{rate}次/分"),
    "sinus_tachy": ("ECG: sinus tachycardia {rate}/min", "心电图示窦性心动过速，{rate}次/分"),
    "vf": ("monitor showed ventricular fibrillation", "心电监护示心室颤动"),
    "st_change": ("ECG: new ST-segment depression in {leads}", "心电图示{leads}导联新发ST段压低"),
    "sinus": ("ECG: sinus rhythm, no ST-segment changes", "心电图示窦性心律，无ST-T改变"),
}

SIGN = {
    "oliguria": ("urine output {volume} ml over 12 hours", "近12小时尿量{volume}ml"),
    "dyspnoea": ("short of breath", "诉气促、呼吸困难"),
    "drain_bowel_content": (
        "turbid bile-stained fluid with food debris from the drain",
        "腹腔引流管引出浑浊胆汁样液体，含食物残渣",
    ),
    "self_terminated": ("the episode terminated spontaneously without treatment", "未予特殊处理，自行转复"),
    "cardiac_arrest": (
        (
            "sudden loss of consciousness and pulse; CPR started, return of spontaneous circulation after "
            "{minutes} minutes"
        ),
        "突发意识丧失、大动脉搏动消失，立即心肺复苏，{minutes}分钟后恢复自主循环",
    ),
    "orthopnoea": ("orthopnoea, unable to lie flat", "端坐呼吸，不能平卧"),
    "rales": ("bilateral crackles on auscultation", "双肺可闻及湿啰音"),
    "leg_swelling": ("calf swelling and tenderness", "小腿肿胀、压痛"),
    "coffee_ground": ("{volume} ml of coffee-ground fluid from the nasogastric tube", "胃管引出咖啡色液体{volume}ml"),
    "melena": ("passed about {volume} ml of black tarry stool", "解黑色柏油样便约{volume}ml"),
    "melena_neg": ("no melena", "无黑便"),
    "haematemesis": ("vomited about {volume} ml of fresh blood", "呕吐鲜血约{volume}ml"),
    "suspected_infection": (
        (
            "fever with rising inflammatory markers, infection suspected; chest, urine and wound show no clear "
            "source; blood cultures sent"
        ),
        "发热伴炎症指标升高，考虑感染，胸部、尿液及切口均未见明确感染灶，已送血培养",
    ),
    "rigors": ("fever with rigors", "寒战、高热"),
    "chest_pain": ("retrosternal chest tightness and pain", "诉胸骨后压榨样疼痛"),
    "chest_pain_neg": ("no chest pain or chest tightness", "无胸痛、胸闷"),
    "purulent_sputum": ("yellow purulent sputum with more frequent suctioning", "咳黄脓痰，吸痰次数增多"),
    "cough": ("new cough", "新发咳嗽"),
    "hypoxaemia": ("SpO2 fell to 89% on room air, needing more oxygen", "未吸氧时SpO2降至89%，需提高吸氧浓度"),
    "abdominal_distension": ("abdominal distension", "腹胀明显"),
    "vomiting": ("nausea and vomiting", "恶心、呕吐"),
    "neuro_deficit": ("new {side}-sided weakness and slurred speech", "新发{side_zh}侧肢体无力伴言语不清"),
    "wound_redness": ("wound erythema and tenderness", "切口周围红肿、压痛"),
    "wound_redness_neg": ("wound clean and dry, no redness or discharge", "切口干燥，无红肿渗出"),
    "superficial_wound_pus": ("purulent discharge from the superficial incision", "切口浅层见脓性分泌物"),
    "superficial_ssi_dx": (
        "the operating surgeon diagnosed a superficial incisional infection",
        "主刀医师诊断为切口浅层感染",
    ),
    "fascial_dehiscence": ("deep wound dehiscence down to the fascia", "切口深部裂开，达筋膜层"),
    "wound_pain": ("marked wound pain and tenderness", "切口疼痛、压痛明显"),
    "deep_wound_pus": ("pus draining from beneath the fascia of the incision", "切口筋膜下流出脓性分泌物"),
    "drain_pus": ("purulent fluid from the drain", "引流管引出脓性液体"),
    "dysuria": ("dysuria", "尿痛"),
    "urgency": ("urinary urgency", "尿急"),
    "frequency": ("urinary frequency", "尿频"),
    "suprapubic_tenderness": ("suprapubic tenderness", "耻骨上区压痛"),
    "absorption_fever": (
        "low-grade fever, considered post-operative absorption fever; antibiotics unchanged",
        "低热，考虑术后吸收热，抗生素未调整",
    ),
    "serous_exudate": (
        "clear yellow serous ooze from the wound with oil droplets (fat liquefaction)",
        "切口渗出淡黄色清亮液体，可见油滴（脂肪液化）",
    ),
}

BOWEL = {
    "no_flatus": ("no flatus passed yet", "暂无肛门排气"),
    "flatus": ("passing flatus", "已有肛门排气"),
    "diet_ok": ("tolerating a light diet", "已进流质饮食，无不适"),
    "diet_intolerance": ("unable to tolerate oral intake", "进食后腹胀，不能耐受饮食"),
    "nbm_leak": ("kept nil by mouth because of the anastomotic fistula", "因吻合口瘘继续禁食"),
}

DRAIN_COLOUR = {
    "dark_red": ("dark red bloody", "暗红色血性"),
    "fresh_blood": ("bright red blood", "鲜红色血性"),
    "light_red": ("light red serosanguinous", "淡红色血性"),
    "serous": ("clear serous", "淡黄色清亮"),
}
DRAIN = ("drain output {volume} ml of {colour} fluid", "引流管引出{colour}液体{volume}ml")

DELIRIUM = {
    "inattention": ("inattentive", "注意力不集中"),
    "disorientation": ("disoriented to time and place", "定向力障碍"),
    "hallucination": ("visual hallucinations", "出现幻视"),
    "agitation": ("agitated, pulling at lines", "烦躁不安，有拔管倾向"),
    "inappropriate_speech": ("incoherent, inappropriate speech", "言语错乱"),
    "sleep_wake": ("awake at night and drowsy by day", "昼睡夜醒"),
}

CULTURE = {
    ("blood", True): ("blood cultures ({bottles}/2 bottles) grew {organism}", "血培养（{bottles}/2瓶）：{organism_zh}"),
    ("blood", "contaminant"): (
        "blood culture grew {organism} in 1 of 2 bottles, considered a skin contaminant",
        "血培养1/2瓶检出{organism_zh}，考虑污染菌",
    ),
    ("blood", False): ("blood cultures: no growth", "血培养：无细菌生长"),
    ("urine", True): ("urine culture: {organism} {cfu} CFU/ml", "尿培养：{organism_zh} {cfu} CFU/ml"),
    ("urine", "asymptomatic"): (
        "urine culture from the catheter: {organism} {cfu} CFU/ml; no urinary symptoms, afebrile",
        "导尿管尿培养：{organism_zh} {cfu} CFU/ml，患者无尿路刺激症状，无发热",
    ),
    ("urine", False): ("urine culture: no growth", "尿培养：无细菌生长"),
    ("sputum", True): ("sputum culture grew {organism}", "痰培养：{organism_zh}"),
    ("wound", True): ("wound swab culture grew {organism}", "切口分泌物培养：{organism_zh}"),
    ("wound", False): ("wound swab culture: no growth", "切口分泌物培养：无细菌生长"),
    ("drain", True): ("drain fluid culture grew {organism}", "引流液培养：{organism_zh}"),
}

GAS = ("arterial blood gas (FiO2 {fio2}%): PaO2 {pao2} mmHg", "动脉血气（FiO2 {fio2}%）：PaO2 {pao2}mmHg")

TREATMENT = {
    "fluids": ("fluid optimisation and avoidance of nephrotoxins", "补液扩容，避免肾毒性药物"),
    "rrt": ("continuous renal replacement therapy", "床旁连续性肾脏替代治疗(CRRT)"),
    "hfnc": ("high-flow nasal oxygen", "经鼻高流量吸氧"),
    "niv": ("non-invasive ventilation", "无创呼吸机辅助通气"),
    "intubation": ("tracheal intubation and mechanical ventilation", "气管插管、呼吸机辅助通气"),
    "icu": ("transfer to the ICU", "转入ICU进一步治疗"),
    "percutaneous_drainage": (
        "ultrasound-guided percutaneous drainage and antibiotics",
        "超声引导下穿刺置管引流并抗感染",
    ),
    "antibiotics": ("intravenous piperacillin-tazobactam", "静脉哌拉西林他唑巴坦抗感染"),
    "reoperation": ("emergency return to theatre", "急诊再次手术"),
    "amiodarone": ("intravenous amiodarone", "静脉胺碘酮"),
    "beta_blocker": ("metoprolol for rate control", "美托洛尔控制心室率"),
    "cardioversion": ("synchronised electrical cardioversion", "同步电复律"),
    "diuretic": ("intravenous furosemide", "静脉呋塞米利尿"),
    "niv_icu": ("non-invasive ventilation", "无创通气"),
    "anticoagulation": ("therapeutic-dose low-molecular-weight heparin", "低分子肝素治疗量抗凝"),
    "ivc_filter": ("inferior vena cava filter placement", "下腔静脉滤器置入"),
    "haloperidol": ("low-dose haloperidol", "小剂量氟哌啶醇"),
    "ppi": ("intravenous pantoprazole infusion", "泮托拉唑持续泵入抑酸"),
    "endoscopic_haemostasis": ("endoscopic haemostasis", "内镜下止血"),
    "vasopressors": ("noradrenaline infusion for shock", "去甲肾上腺素维持血压"),
    "antiplatelet": ("aspirin, clopidogrel and atorvastatin", "阿司匹林、氯吡格雷及阿托伐他汀"),
    "pci": ("emergency coronary angiography and PCI", "急诊冠脉造影并PCI"),
    "ng_tube": ("nasogastric decompression", "胃肠减压"),
    "prokinetic": ("prokinetics and enemas", "促胃肠动力药物及灌肠"),
    "haemostatics": ("tranexamic acid", "氨甲环酸止血"),
    "thrombolysis": ("systemic thrombolysis", "溶栓治疗"),
    "neurology": ("neurology review, aspirin and a statin", "神经内科会诊，予阿司匹林及他汀"),
    "wound_opening": ("opening of the wound and daily dressings", "拆除部分缝线敞开切口，每日换药"),
    "debridement": ("surgical debridement", "手术清创"),
}

INDICATION = {  # how the plan states what a treatment is for
    "acute_kidney_injury": ("the rising creatinine", "肌酐升高"),
    "ards": ("the respiratory failure", "呼吸衰竭"),
    "anastomotic_leak": ("the anastomotic fistula", "吻合口瘘"),
    "arrhythmia": ("the tachyarrhythmia", "快速性心律失常"),
    "cardiac_arrest": ("post-resuscitation care", "心肺复苏后监护"),
    "cardiogenic_pulmonary_edema": ("the pulmonary oedema", "肺水肿"),
    "deep_vein_thrombosis": ("the venous thrombus", "静脉血栓"),
    "delirium": ("the agitation", "躁动"),
    "gastrointestinal_bleeding": ("the upper GI bleeding", "上消化道出血"),
    "infection_unknown_source": ("the suspected infection", "可疑感染"),
    "bloodstream_infection": ("the bacteraemia", "菌血症"),
    "myocardial_infarction": ("the myocardial ischaemia", "心肌缺血"),
    "myocardial_injury": ("the troponin rise", "肌钙蛋白升高"),
    "pneumonia": ("the chest infection", "肺部感染"),
    "paralytic_ileus": ("the delayed return of bowel function", "胃肠功能恢复延迟"),
    "postoperative_bleeding": ("the bleeding", "活动性出血"),
    "pulmonary_embolism": ("the pulmonary embolus", "肺栓塞"),
    "stroke": ("the stroke", "脑卒中"),
    "superficial_ssi": ("the wound infection", "切口感染"),
    "deep_ssi": ("the deep wound infection", "切口深部感染"),
    "organ_space_ssi": ("the operative-site abscess", "术区脓肿"),
    "urinary_tract_infection": ("the urinary infection", "泌尿系感染"),
}

TRANSFUSION_REASON = {
    "drain_bleeding": (
        "for active bleeding (bloody drain output, falling haemoglobin)",
        "因活动性出血（引流血性液体增多、血红蛋白下降）",
    ),
    "anaemia": ("for anaemia", "因治疗贫血"),
    "intraop_loss": ("to replace intra-operative blood loss", "因术中失血较多"),
}
PRODUCT = {
    "rbc": ("{units} U of red cells", "同型红细胞悬液{units}U"),
    "plasma": ("{ml} ml of fresh frozen plasma", "同型新鲜冰冻血浆{ml}ml"),
}

HISTORY = {
    "hypertension": ("hypertension", "高血压"),
    "diabetes": ("type 2 diabetes", "2型糖尿病"),
    "copd": ("COPD", "慢性阻塞性肺疾病"),
    "ckd": ("chronic kidney disease (renal insufficiency)", "慢性肾脏病（肾功能不全）"),
    "esrd": ("end-stage renal disease on haemodialysis", "终末期肾病，规律血液透析"),
    "none": ("no significant past history", "既往体健"),
}
ANAESTHESIA = {
    "general": ("general anaesthesia", "全麻"),
    "spinal": ("spinal anaesthesia", "腰麻"),
    "epidural": ("epidural anaesthesia", "硬膜外麻醉"),
}
NOTE_TITLES = (
    ("Ward round note (chief surgeon)", "主任医师查房记录"),
    ("Ward round note (attending surgeon)", "主治医师查房记录"),
    ("Daily progress note", "日常病程记录"),
)
NOTE_TITLES_SHORT = (("Ward round", "查房记录"), ("Progress note", "病程记录"))  # compact records
